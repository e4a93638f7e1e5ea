// Wall-profile cost benchmark: N mostly idle threads (each waits on a condition variable
// with a 100 ms timeout, then does a few microseconds of work, like a pool of idle server
// workers) while the main thread does a fixed amount of CPU work. Prints
// "<work wall ms> <process cpu ms> <elapsed ms> <work cpu ms>": the work's wall time (slowed
// down if the agent or the machine steals CPU from it), the CPU time of the whole process
// (threads + agent), and the work's own CPU time (what the agent's signals and cache effects
// cost the working thread, independent of other load on the machine).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;
static int g_stop;
static volatile unsigned long g_sink;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void* idle_worker(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_mutex);
  while (!g_stop) {
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += 100 * 1000 * 1000;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&g_cond, &g_mutex, &deadline);
    unsigned long x = 1;
    for (int i = 0; i < 2000; ++i) x = x * 6364136223846793005ul + 1;
    g_sink = x;
  }
  pthread_mutex_unlock(&g_mutex);
  return NULL;
}

__attribute__((noinline)) static void work(long rounds) {
  unsigned long x = 1;
  for (long r = 0; r < rounds; ++r)
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  g_sink = x;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 10;
  long rounds = argc > 2 ? atol(argv[2]) : 20000;
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cond, &attr);
  pthread_t* t = calloc((size_t)threads, sizeof *t);
  pthread_attr_t small;
  pthread_attr_init(&small);
  pthread_attr_setstacksize(&small, 64 * 1024);
  for (int i = 0; i < threads; ++i) pthread_create(&t[i], &small, idle_worker, NULL);
  double start = now_ms();
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  work(rounds);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  double work_ms = now_ms() - start;
  double work_cpu_ms = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
  pthread_mutex_lock(&g_mutex);
  g_stop = 1;
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_mutex);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double cpu_ms = ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3 + ru.ru_stime.tv_sec * 1e3 +
                  ru.ru_stime.tv_usec / 1e3;
  printf("%.1f %.1f %.1f %.1f\n", work_ms, cpu_ms, now_ms() - start, work_cpu_ms);
  return 0;
}
