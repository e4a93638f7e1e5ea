// e2e program: several threads burn CPU in two named functions in a 3:1 ratio of work, then
// the process prints its own CPU time (getrusage, all threads) in nanoseconds.
// Each call is long (tens of ms of CPU) compared with the sampling period, so the profile's
// ratio measures the agent, not sampling noise.
// Usage: burn_ratio [threads] [rounds] [unit: iterations of burn_one per round]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

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

static void* worker(void* arg) {
  (void)arg;
  for (long r = 0; r < rounds; ++r) {
    burn_three(unit);
    burn_one(unit);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 4;
  if (argc > 2) rounds = atol(argv[2]);
  if (argc > 3) unit = strtoul(argv[3], NULL, 10);
  pthread_t tids[64];
  for (int i = 0; i < threads && i < 64; ++i) pthread_create(&tids[i], NULL, worker, NULL);
  for (int i = 0; i < threads && i < 64; ++i) pthread_join(tids[i], NULL);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  printf("cpu_ns %lld\n", ns);
  return 0;
}
