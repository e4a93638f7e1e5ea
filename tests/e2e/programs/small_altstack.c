// Gives the main thread an alternate signal stack of SIZE bytes right above an inaccessible
// page (a handler that overflows it faults instead of corrupting memory unseen), then burns
// CPU in burn_on_small_altstack for SECONDS. Under the agent every sample lands on that
// altstack (its handlers are SA_ONSTACK). Prints "ok" and exits 0 if it survived.
//   small_altstack SIZE SECONDS
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

volatile unsigned long sink;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void burn_on_small_altstack(double seconds) {
  double end = now() + seconds;
  unsigned long x = 1;
  while (now() < end)
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  sink = x;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  size_t size = (size_t)atol(argv[1]);
  size_t page = 4096, span = page + ((size + page - 1) & ~(page - 1));
  char* mem = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED || mprotect(mem, page, PROT_NONE) != 0) return 3;
  stack_t ss = {.ss_sp = mem + page, .ss_size = size, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    perror("sigaltstack");
    return 3;
  }
  burn_on_small_altstack(atof(argv[2]));
  puts("ok");
  return 0;
}
