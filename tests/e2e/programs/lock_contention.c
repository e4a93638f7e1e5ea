/* Lock and condition-variable contention that measures its own waits (locks e2e tests).
 *   lock_contention mutex: 4 threads take one mutex 40 times each in contend_lock(), hold it
 *     ~1 ms, release it in release_lock(). Prints the total time the threads spent inside
 *     pthread_mutex_lock ("measured_wait_ns"), and the part of it that ended at an unlock
 *     ("measured_until_unlock_ns": for each acquisition, from the call to the last unlock
 *     before the lock was taken; what is left is the wake-up latency, which the mutex profile
 *     charges to nobody).
 *   lock_contention cond: 4 threads wait on a condition variable in wait_for_signal() for 30
 *     ticks a ticker thread broadcasts every ~2 ms. Prints the total time spent inside
 *     pthread_cond_wait ("measured_wait_ns") and the number of pthread_cond_wait calls
 *     ("cond_waits").
 * Output: one "<name> <N>" line per figure, measured_wait_ns first. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { kThreads = 4, kLocks = 40, kTicks = 30 };

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static long long g_wait_ns[kThreads];
static long long g_until_unlock_ns[kThreads];
static long long g_last_unlock_ns; /* written just before each unlock, under g_mutex */
static long g_cond_waits;          /* under g_mutex */
static int g_tick;
static int g_done;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_ns(long ns) {
  struct timespec ts = {0, ns};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

__attribute__((noinline)) void contend_lock(long i) {
  long long t0 = now_ns();
  pthread_mutex_lock(&g_mutex);
  g_wait_ns[i] += now_ns() - t0;
  if (g_last_unlock_ns > t0) g_until_unlock_ns[i] += g_last_unlock_ns - t0;
}

__attribute__((noinline)) void release_lock(void) {
  g_last_unlock_ns = now_ns();
  pthread_mutex_unlock(&g_mutex);
}

static void* mutex_worker(void* arg) {
  long i = (long)arg;
  for (int n = 0; n < kLocks; ++n) {
    contend_lock(i);
    sleep_ns(1000000);
    release_lock();
  }
  return NULL;
}

/* Called with g_mutex held; returns with it held. */
__attribute__((noinline)) long long wait_for_signal(int seen) {
  long long waited = 0;
  while (g_tick == seen && !g_done) {
    long long t0 = now_ns();
    pthread_cond_wait(&g_cond, &g_mutex);
    waited += now_ns() - t0;
    ++g_cond_waits;
  }
  return waited;
}

static void* cond_worker(void* arg) {
  long i = (long)arg;
  pthread_mutex_lock(&g_mutex);
  int seen = g_tick;
  while (!g_done) {
    g_wait_ns[i] += wait_for_signal(seen);
    seen = g_tick;
  }
  pthread_mutex_unlock(&g_mutex);
  return NULL;
}

static void* ticker(void* unused) {
  (void)unused;
  for (int n = 0; n < kTicks; ++n) {
    sleep_ns(2000000);
    pthread_mutex_lock(&g_mutex);
    ++g_tick;
    if (n == kTicks - 1) g_done = 1;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_mutex);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int cond = argc > 1 && strcmp(argv[1], "cond") == 0;
  pthread_t threads[kThreads], tick;
  for (long i = 0; i < kThreads; ++i)
    pthread_create(&threads[i], NULL, cond ? cond_worker : mutex_worker, (void*)i);
  if (cond) pthread_create(&tick, NULL, ticker, NULL);
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL);
  if (cond) pthread_join(tick, NULL);
  long long total = 0, until_unlock = 0;
  for (int i = 0; i < kThreads; ++i) {
    total += g_wait_ns[i];
    until_unlock += g_until_unlock_ns[i];
  }
  printf("measured_wait_ns %lld\n", total);
  if (cond)
    printf("cond_waits %ld\n", g_cond_waits);
  else
    printf("measured_until_unlock_ns %lld\n", until_unlock);
  return 0;
}
