// e2e program for continuous profiling: runs for a fixed wall time (argv[1],
// seconds, decimals allowed) with `threads` worker threads (argv[2]) burning CPU in
// burn_worker() while the main thread churns a bounded set of heap buffers in
// churn_heap() (steady memory: the live set never grows). Prints its own CPU time
// (getrusage, all threads, the agent's included) as "cpu_ns N" and that of its own threads
// (main and workers: the threads a CPU profile samples) as "program_threads_cpu_ns N" at the
// end and exits 0.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static volatile unsigned long sink;
static double g_seconds = 10;
static long long g_worker_cpu_ns[16];

static long long thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static unsigned long spin(unsigned long iterations) {
  unsigned long x = 1;
  for (unsigned long i = 0; i < iterations; ++i) x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

__attribute__((noinline)) void burn_worker(double end) {
  while (now_seconds() < end) sink += spin(200000);
}

struct WorkerArg {
  double end;
  int index;
};

static void* worker(void* arg) {
  struct WorkerArg* a = arg;
  burn_worker(a->end);
  g_worker_cpu_ns[a->index] = thread_cpu_ns();
  return NULL;
}

#define kLive 512
__attribute__((noinline)) void churn_heap(double end) {
  static void* live[kLive];
  unsigned long r = 12345;
  while (now_seconds() < end) {
    for (int i = 0; i < 64; ++i) {
      r = r * 6364136223846793005UL + 1442695040888963407UL;
      unsigned slot = (unsigned)(r >> 33) % kLive;
      size_t size = 64 + (size_t)((r >> 13) % 16384);
      free(live[slot]);
      live[slot] = malloc(size);
      memset(live[slot], 1, size < 256 ? size : 256);
    }
    sink += spin(20000);
    struct timespec pause = {0, 200000};  // 0.2 ms: the main thread is mostly idle
    nanosleep(&pause, NULL);
  }
  for (int i = 0; i < kLive; ++i) free(live[i]);
}

int main(int argc, char** argv) {
  if (argc > 1) g_seconds = atof(argv[1]);
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  double end = now_seconds() + g_seconds;
  pthread_t tids[16];
  struct WorkerArg args[16];
  for (int i = 0; i < threads && i < 16; ++i) {
    args[i].end = end;
    args[i].index = i;
    pthread_create(&tids[i], NULL, worker, &args[i]);
  }
  churn_heap(end);
  long long program_threads_ns = 0;
  for (int i = 0; i < threads && i < 16; ++i) {
    pthread_join(tids[i], NULL);
    program_threads_ns += g_worker_cpu_ns[i];
  }
  program_threads_ns += thread_cpu_ns();
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long long ns = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
  printf("cpu_ns %lld\nprogram_threads_cpu_ns %lld\n", ns, program_threads_ns);
  return 0;
}
