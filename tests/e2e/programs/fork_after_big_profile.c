// A parent whose CPU profile holds many stacks (`many`: two threads burn through 4,096
// distinct call paths) or one (`few`), then forks children that exec /bin/true. Each child
// records, right after fork() returned (the agent's fork handlers have run), the page faults
// it took so far; the program prints the median over the children: "child faults N".
// (tests/e2e/procs_e2e_test.cc: a child's fork handlers must not touch the parent's profile.)
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
static int many;

typedef void (*step_fn)(unsigned);
#define LEAF(i) __attribute__((noinline)) static void leaf##i(unsigned r) { for (int k = 0; k < 20000; ++k) sink += k * r; }
#define LEAVES8(b) LEAF(b##0) LEAF(b##1) LEAF(b##2) LEAF(b##3) LEAF(b##4) LEAF(b##5) LEAF(b##6) LEAF(b##7)
LEAVES8(1) LEAVES8(2) LEAVES8(3) LEAVES8(4) LEAVES8(5) LEAVES8(6) LEAVES8(7) LEAVES8(8)
#define LEAF_PTRS(b) leaf##b##0, leaf##b##1, leaf##b##2, leaf##b##3, leaf##b##4, leaf##b##5, leaf##b##6, leaf##b##7
static const step_fn leaves[64] = {LEAF_PTRS(1), LEAF_PTRS(2), LEAF_PTRS(3), LEAF_PTRS(4),
                                   LEAF_PTRS(5), LEAF_PTRS(6), LEAF_PTRS(7), LEAF_PTRS(8)};
#define MID(i) __attribute__((noinline)) static void mid##i(unsigned r) { leaves[many ? r % 64 : 0](r); sink++; }
#define MIDS8(b) MID(b##0) MID(b##1) MID(b##2) MID(b##3) MID(b##4) MID(b##5) MID(b##6) MID(b##7)
MIDS8(1) MIDS8(2) MIDS8(3) MIDS8(4) MIDS8(5) MIDS8(6) MIDS8(7) MIDS8(8)
#define MID_PTRS(b) mid##b##0, mid##b##1, mid##b##2, mid##b##3, mid##b##4, mid##b##5, mid##b##6, mid##b##7
static const step_fn mids[64] = {MID_PTRS(1), MID_PTRS(2), MID_PTRS(3), MID_PTRS(4),
                                 MID_PTRS(5), MID_PTRS(6), MID_PTRS(7), MID_PTRS(8)};

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void* burn(void* arg) {
  unsigned r = (unsigned)(unsigned long)arg;
  double end = now() + 1.5;
  while (now() < end) {
    r = r * 1103515245u + 12345u;
    mids[many ? (r >> 8) % 64 : 0](r >> 16);
  }
  return NULL;
}

static int by_value(const void* a, const void* b) {
  long x = *(const long*)a, y = *(const long*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  many = argc > 1 && strcmp(argv[1], "many") == 0;
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, burn, (void*)(unsigned long)(i + 1));
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  struct timespec drained = {0, 400000000};  // the agent's tick drains the samples meanwhile
  nanosleep(&drained, NULL);
  enum { kChildren = 21 };
  long* faults = mmap(NULL, sizeof(long) * kChildren, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  char* no_env[] = {NULL};
  for (int i = 0; i < kChildren; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      struct rusage u;
      getrusage(RUSAGE_SELF, &u);
      faults[i] = u.ru_minflt;
      execle("/bin/true", "true", (char*)NULL, no_env);
      _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
  }
  qsort(faults, kChildren, sizeof(long), by_value);
  printf("child faults %ld\n", faults[kChildren / 2]);
  return 0;
}
