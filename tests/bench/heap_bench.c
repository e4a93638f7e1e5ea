// Heap benchmark: T threads each run N small malloc/free pairs over a ring of 256 live
// slots (sizes 16..512 bytes), the pattern of a typical allocation-heavy service. Prints the
// average wall-clock nanoseconds per malloc+free pair per thread (ns_per_op) and the workers'
// own CPU time per pair (cpu_ns_per_op: blind to time the VM or other processes take from
// them, so it varies less between runs). Used by scripts/bench-heap.
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long ops = 2000000;
static pthread_barrier_t start;
void* volatile g_sink;
static int64_t g_worker_cpu_ns;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void* worker(void* arg) {
  uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
  void* slots[256] = {0};
  pthread_barrier_wait(&start);
  for (long i = 0; i < ops; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    unsigned slot = x & 255;
    free(slots[slot]);
    char* p = malloc(16 + ((x >> 8) & 31) * 16);
    p[0] = (char)i;
    slots[slot] = p;
  }
  for (int i = 0; i < 256; ++i) free(slots[i]);
  g_sink = slots[0];
  struct timespec cpu;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
  __atomic_add_fetch(&g_worker_cpu_ns, (int64_t)cpu.tv_sec * 1000000000 + cpu.tv_nsec,
                     __ATOMIC_RELAXED);
  return NULL;
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  if (argc > 2) ops = atol(argv[2]);
  if (threads < 1) threads = 1;
  pthread_t* t = malloc(sizeof(pthread_t) * (size_t)threads);
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; ++i) pthread_create(&t[i], NULL, worker, (void*)(uintptr_t)(i + 1));
  int64_t t0 = now_ns();
  pthread_barrier_wait(&start);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  int64_t t1 = now_ns();
  printf("ns_per_op %.3f\n", (double)(t1 - t0) / (double)ops);
  printf("cpu_ns_per_op %.3f\n", (double)g_worker_cpu_ns / threads / (double)ops);
  free(t);
  return 0;
}
