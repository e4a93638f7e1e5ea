// Long-running multi-threaded program for the live-endpoint e2e tests: workers
// burn CPU in hot_spin(), allocate in alloc_site() and take a shared mutex in
// locked_section(); the main thread prints "<ms since start> <work units done>" every
// 100 ms so a test can measure the work rate while it abuses the HTTP endpoint.
// Usage: http_busy <workers> <seconds>; runs until then (or until a signal kills it).
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_ulong g_work;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long g_sink;
static void* volatile g_keep[64];

__attribute__((noinline)) unsigned long hot_spin(unsigned long n) {
  unsigned long x = n;
  for (unsigned long i = 0; i < 200000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  return x;
}

__attribute__((noinline)) void alloc_site(unsigned long i) {
  void* p = malloc(4096 + (i % 7) * 64);
  // Threads share the slots: the exchange gives each old block to exactly one of them
  // (a plain read-then-write let two threads free the same block).
  void* old = __atomic_exchange_n(&g_keep[i % 64], p, __ATOMIC_ACQ_REL);
  free(old);
}

__attribute__((noinline)) void locked_section(void) {
  pthread_mutex_lock(&g_lock);
  g_sink += hot_spin(g_sink) & 1;
  pthread_mutex_unlock(&g_lock);
}

static void* worker(void* arg) {
  (void)arg;
  for (unsigned long i = 0;; ++i) {
    g_sink += hot_spin(i);
    if (i % 4 == 0) alloc_site(i);
    if (i % 8 == 0) locked_section();
    atomic_fetch_add(&g_work, 1);
  }
  return NULL;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  int workers = argc > 1 ? atoi(argv[1]) : 2;
  double seconds = argc > 2 ? atof(argv[2]) : 30;
  for (int i = 0; i < workers; ++i) {
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    char name[16];
    snprintf(name, sizeof name, "busy-%d", i);
    pthread_setname_np(t, name);
  }
  double start = now_ms();
  for (;;) {
    struct timespec d = {0, 100 * 1000 * 1000};
    nanosleep(&d, NULL);
    double t = now_ms() - start;
    printf("%.0f %lu\n", t, (unsigned long)atomic_load(&g_work));
    fflush(stdout);
    if (t >= seconds * 1000) break;
  }
  printf("done\n");
  return 0;
}
