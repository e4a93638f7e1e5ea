/* Lock hook overhead benchmark (scripts/bench-locks).
 *   lock_bench uncontended THREADS PAIRS: each thread locks and unlocks its own mutex PAIRS
 *     times; prints "ns_per_op <ns per lock+unlock pair>" (wall time / PAIRS, threads run
 *     in parallel).
 *   lock_bench event OPS: a helper thread holds a mutex; the main thread calls
 *     pthread_mutex_timedlock with an already expired deadline OPS times: each call is one
 *     contended acquisition that times out at once (with PROFAGENT_BLOCK_RATE=1, one recorded
 *     block event, plus the mutex-profile waiter bookkeeping); prints "ns_per_op <ns>". */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One cache-line-aligned block per thread: no false sharing whatever malloc returns. */
struct worker {
  pthread_mutex_t mutex;
  long pairs;
} __attribute__((aligned(128)));

static void* uncontended_worker(void* p) {
  struct worker* w = p;
  for (long i = 0; i < w->pairs; ++i) {
    pthread_mutex_lock(&w->mutex);
    __asm__ volatile("" ::: "memory");
    pthread_mutex_unlock(&w->mutex);
  }
  return NULL;
}

static int uncontended(int threads, long pairs) {
  struct worker* ws = aligned_alloc(128, (size_t)threads * sizeof *ws);
  memset(ws, 0, (size_t)threads * sizeof *ws);
  pthread_t* ts = calloc((size_t)threads, sizeof *ts);
  for (int i = 0; i < threads; ++i) {
    pthread_mutex_init(&ws[i].mutex, NULL);
    ws[i].pairs = pairs;
  }
  long long t0 = now_ns();
  for (int i = 0; i < threads; ++i) pthread_create(&ts[i], NULL, uncontended_worker, &ws[i]);
  for (int i = 0; i < threads; ++i) pthread_join(ts[i], NULL);
  long long t1 = now_ns();
  printf("ns_per_op %.3f\n", (double)(t1 - t0) / (double)pairs);
  return 0;
}

static pthread_mutex_t g_held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_done_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_done_cond = PTHREAD_COND_INITIALIZER;
static int g_state;  /* 1 = holder has the lock, 2 = main is done */

static void* holder(void* unused) {
  (void)unused;
  pthread_mutex_lock(&g_held);
  pthread_mutex_lock(&g_done_mutex);
  g_state = 1;
  pthread_cond_broadcast(&g_done_cond);
  while (g_state != 2) pthread_cond_wait(&g_done_cond, &g_done_mutex);
  pthread_mutex_unlock(&g_done_mutex);
  pthread_mutex_unlock(&g_held);
  return NULL;
}

static int event(long ops) {
  pthread_t t;
  pthread_create(&t, NULL, holder, NULL);
  pthread_mutex_lock(&g_done_mutex);
  while (g_state != 1) pthread_cond_wait(&g_done_cond, &g_done_mutex);
  pthread_mutex_unlock(&g_done_mutex);
  struct timespec past = {0, 0};
  long timeouts = 0;
  long long t0 = now_ns();
  for (long i = 0; i < ops; ++i)
    if (pthread_mutex_timedlock(&g_held, &past) == ETIMEDOUT) ++timeouts;
  long long t1 = now_ns();
  pthread_mutex_lock(&g_done_mutex);
  g_state = 2;
  pthread_cond_broadcast(&g_done_cond);
  pthread_mutex_unlock(&g_done_mutex);
  pthread_join(t, NULL);
  if (timeouts != ops) {
    fprintf(stderr, "lock_bench: %ld of %ld timed out\n", timeouts, ops);
    return 1;
  }
  printf("ns_per_op %.3f\n", (double)(t1 - t0) / (double)ops);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "uncontended") == 0)
    return uncontended(atoi(argv[2]), atol(argv[3]));
  if (argc >= 3 && strcmp(argv[1], "event") == 0) return event(atol(argv[2]));
  fprintf(stderr, "usage: lock_bench uncontended THREADS PAIRS | event OPS\n");
  return 2;
}
