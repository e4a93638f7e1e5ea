// A coroutine on an 8 KiB makecontext stack burns CPU (coroutine_burn) while the agent
// samples it at 1000 Hz: the agent's handler must fit in what is left of that stack.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <ucontext.h>

static ucontext_t main_ctx, co_ctx;
static volatile unsigned long sink;

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void coroutine_burn(void) {
  double start = cpu_seconds();
  while (cpu_seconds() - start < 0.5)
    for (int i = 0; i < 1000; ++i) sink += i;
}

static void coroutine(void) {
  for (int round = 0; round < 2; ++round) {
    coroutine_burn();
    swapcontext(&co_ctx, &main_ctx);
  }
}

int main(void) {
  enum { kStack = 8 * 1024 };
  char* stack = malloc(kStack);
  getcontext(&co_ctx);
  co_ctx.uc_stack.ss_sp = stack;
  co_ctx.uc_stack.ss_size = kStack;
  co_ctx.uc_link = &main_ctx;
  makecontext(&co_ctx, coroutine, 0);
  swapcontext(&main_ctx, &co_ctx);
  swapcontext(&main_ctx, &co_ctx);
  printf("coroutine done\n");
  return 0;
}
