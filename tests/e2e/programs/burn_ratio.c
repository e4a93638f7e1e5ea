// e2e program: several threads burn CPU in two named functions in a 3:1 ratio of work, then
// the process prints its own CPU time (getrusage, all threads) in nanoseconds, and the thread
// CPU time each function took (CLOCK_THREAD_CPUTIME_ID around every call, all threads).
// The work is 3:1, but its CPU time is 3:1 only on a quiet machine: a neighbour on the same
// core slows whichever function runs beside it, so tests compare the profile's ratio with the
// measured one. Each call is long (tens of ms of CPU) compared with the sampling period, so
// the profile's ratio measures the agent, not sampling noise.
// Usage: burn_ratio [threads] [rounds] [unit: iterations of burn_one per round]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) static unsigned long spin(unsigned long iterations) {
  unsigned long x = 1;
  for (unsigned long i = 0; i < iterations; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) void burn_three(unsigned long unit) { sink += spin(3 * unit); }
__attribute__((noinline)) void burn_one(unsigned long unit) { sink += spin(unit); }

static long rounds = 20;
static unsigned long unit = 8000000;

struct spent {
  long long three_ns, one_ns;
};

static long long thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void* worker(void* arg) {
  struct spent* spent = arg;
  for (long r = 0; r < rounds; ++r) {
    long long start = thread_cpu_ns();
    burn_three(unit);
    long long middle = thread_cpu_ns();
    burn_one(unit);
    spent->three_ns += middle - start;
    spent->one_ns += thread_cpu_ns() - middle;
  }
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  if (argc > 2) rounds = atol(argv[2]);
  if (argc > 3) unit = strtoul(argv[3], NULL, 10);
  if (threads > 64) threads = 64;
  pthread_t tids[64];
  struct spent spent[64] = {{0, 0}};
  for (int i = 0; i < threads; ++i) pthread_create(&tids[i], NULL, worker, &spent[i]);
  long long three_ns = 0, one_ns = 0;
  for (int i = 0; i < threads; ++i) {
    pthread_join(tids[i], NULL);
    three_ns += spent[i].three_ns;
    one_ns += spent[i].one_ns;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  printf("cpu_ns %lld\n", ns);
  printf("burn_three_ns %lld burn_one_ns %lld\n", three_ns, one_ns);
  return 0;
}
