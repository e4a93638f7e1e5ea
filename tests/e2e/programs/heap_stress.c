// Heap e2e stress program: 8 threads allocate (malloc, calloc, realloc, posix_memalign),
// hand every object to the next thread, which checks its contents and frees it; rounds
// separated by a barrier. Prints the resident size after round 2, after the last round and
// after every round ("rss_round_kib <round> <KiB>", rounds from 1; the agent's own memory
// must not grow with rounds), a count of corrupted objects, and
// keeps exactly 1000 x 4096 bytes from keep_final until exit.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 8
#define PER_ROUND 4000
#define MAILBOX 256

struct obj {
  unsigned char* p;
  size_t size;
  unsigned char fill;
};

struct mailbox {
  pthread_mutex_t mu;
  struct obj items[MAILBOX];
  int head, count;
};

static struct mailbox boxes[THREADS];
static pthread_barrier_t barrier;
static int rounds = 8;
static int done_putting;
static long corrupted;
static pthread_mutex_t corrupted_mu = PTHREAD_MUTEX_INITIALIZER;
static long rss_round2, rss_last;
static long rss_after[64];  // after round r (index r), the first 64 rounds
static const size_t sizes[] = {16, 24, 100, 256, 1000, 4096, 20000, 70000, 150000};

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE* f = fopen("/proc/self/statm", "r");
  if (f == NULL) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int try_put(int box, struct obj o) {
  struct mailbox* b = &boxes[box];
  pthread_mutex_lock(&b->mu);
  int room = b->count < MAILBOX;
  if (room) {
    b->items[(b->head + b->count) % MAILBOX] = o;
    b->count++;
  }
  pthread_mutex_unlock(&b->mu);
  return room;
}

static int take(int box, struct obj* o) {
  struct mailbox* b = &boxes[box];
  pthread_mutex_lock(&b->mu);
  int got = b->count > 0;
  if (got) {
    *o = b->items[b->head];
    b->head = (b->head + 1) % MAILBOX;
    b->count--;
  }
  pthread_mutex_unlock(&b->mu);
  return got;
}

static void check_and_free(struct obj o) {
  size_t n = o.size < 64 ? o.size : 64;
  for (size_t i = 0; i < n; ++i)
    if (o.p[i] != o.fill || o.p[o.size - 1 - i] != o.fill) {
      pthread_mutex_lock(&corrupted_mu);
      corrupted++;
      pthread_mutex_unlock(&corrupted_mu);
      break;
    }
  free(o.p);
}

__attribute__((noinline)) static struct obj stress_alloc(unsigned* seed, int t) {
  *seed = *seed * 1103515245u + 12345u;
  size_t size = sizes[(*seed >> 8) % (sizeof(sizes) / sizeof(sizes[0]))];
  unsigned char* p = NULL;
  switch ((*seed >> 4) % 4) {
    case 0: p = malloc(size); break;
    case 1: p = calloc(1, size); break;
    case 2:
      p = malloc(size / 2 + 1);
      p = realloc(p, size);
      break;
    case 3:
      if (posix_memalign((void**)&p, 64, size) != 0) p = NULL;
      break;
  }
  struct obj o = {p, size, (unsigned char)(t * 16 + (*seed & 15))};
  memset(p, o.fill, size);
  return o;
}

static void* worker(void* arg) {
  int t = (int)(intptr_t)arg;
  unsigned seed = (unsigned)t * 2654435761u + 1;
  struct obj o;
  for (int r = 0; r < rounds; ++r) {
    for (int i = 0; i < PER_ROUND; ++i) {
      struct obj mine = stress_alloc(&seed, t);
      while (!try_put((t + 1) % THREADS, mine)) {  // full: drain our own box meanwhile
        while (take(t, &o)) check_and_free(o);
        sched_yield();
      }
      while (take(t, &o)) check_and_free(o);
    }
    // Keep draining until every thread has put everything for this round.
    __atomic_add_fetch(&done_putting, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&done_putting, __ATOMIC_SEQ_CST) < THREADS * (r + 1)) {
      while (take(t, &o)) check_and_free(o);
      sched_yield();
    }
    while (take(t, &o)) check_and_free(o);
    pthread_barrier_wait(&barrier);  // every mailbox is empty
    if (t == 0 && r < 64) rss_after[r] = rss_kib();
    if (t == 0 && r == 1) rss_round2 = rss_after[1];
    if (t == 0 && r == rounds - 1) rss_last = rss_kib();
  }
  return NULL;
}

static void* kept[1000];

__attribute__((noinline)) void keep_final(void) {
  for (int i = 0; i < 1000; ++i) {
    kept[i] = malloc(4096);
    memset(kept[i], 9, 4096);
  }
}

int main(int argc, char** argv) {
  if (argc > 1) rounds = atoi(argv[1]);
  if (rounds < 2) rounds = 2;
  pthread_barrier_init(&barrier, NULL, THREADS);
  for (int i = 0; i < THREADS; ++i) {
    pthread_mutex_init(&boxes[i].mu, NULL);
  }
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; ++i) pthread_create(&threads[i], NULL, worker, (void*)(intptr_t)i);
  for (int i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  keep_final();
  printf("corrupted %ld\nrss_round2_kib %ld\nrss_last_kib %ld\n", corrupted, rss_round2, rss_last);
  for (int r = 0; r < rounds && r < 64; ++r) printf("rss_round_kib %d %ld\n", r + 1, rss_after[r]);
  return 0;
}
