// Benchmark: the agent's walker vs libunwind's unw_backtrace (dlopen'ed privately) on the
// same 20-frame stacks. Prints "ours_ns <x>", "libunwind_ns <y>", "ratio <y/x>" and checks
// that both saw the same depth. Run by scripts/bench-unwind.
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"

namespace {

int (*g_unw_backtrace)(void**, int);
int (*g_getcontext)(unw_context_t*);
int (*g_init_local)(unw_cursor_t*, unw_context_t*);
int (*g_step)(unw_cursor_t*);
int (*g_get_reg)(unw_cursor_t*, int, unw_word_t*);
double g_step_ns = 0;
int g_step_depth = 0;

// libunwind's general path, as the agent's signal handler used it: init a cursor, step.
__attribute__((noinline)) int step_walk(uintptr_t* pcs, int max) {
  unw_context_t ctx;
  unw_cursor_t cursor;
  g_getcontext(&ctx);
  if (g_init_local(&cursor, &ctx) < 0) return 0;
  int n = 0;
  while (n < max) {
    unw_word_t ip;
    if (g_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    pcs[n++] = ip;
    if (g_step(&cursor) <= 0) break;
  }
  return n;
}
int g_iterations = 200000;
double g_ours_ns = 0, g_lib_ns = 0;
int g_ours_depth = 0, g_lib_depth = 0;

double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

__attribute__((noinline)) void measure() {
  uintptr_t pcs[profagent::kMaxFrames];
  void* raw[profagent::kMaxFrames];
  // Alternating rounds, the best of each: a shared machine preempts now and then.
  g_ours_ns = g_lib_ns = 1e18;
  int per_round = g_iterations / 10;
  for (int round = 0; round < 11; ++round) {  // round 0 warms caches up
    double a = now_ns();
    for (int i = 0; i < per_round; ++i) g_ours_depth = profagent::unwind_from_hook(pcs, 64);
    double b = now_ns();
    for (int i = 0; i < per_round; ++i) g_lib_depth = g_unw_backtrace(raw, 64);
    double c = now_ns();
    for (int i = 0; i < per_round / 4; ++i) g_step_depth = step_walk(pcs, 64);
    double d = now_ns();
    if (round == 0) continue;
    if ((d - c) / (per_round / 4) < g_step_ns || g_step_ns == 0) g_step_ns = (d - c) / (per_round / 4);
    if ((b - a) / per_round < g_ours_ns) g_ours_ns = (b - a) / per_round;
    if ((c - b) / per_round < g_lib_ns) g_lib_ns = (c - b) / per_round;
  }
}

// 20 frames: main, recurse x18, measure.
__attribute__((noinline)) int recurse(int depth) {
  if (depth == 0) {
    measure();
    return 0;
  }
  int r = recurse(depth - 1);
  asm volatile("" ::: "memory");
  return r + 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_iterations = atoi(argv[1]);
  void* h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (h == nullptr) return 2;
  g_unw_backtrace = reinterpret_cast<int (*)(void**, int)>(dlsym(h, "unw_backtrace"));
  g_getcontext = reinterpret_cast<int (*)(unw_context_t*)>(dlsym(h, "_Ux86_64_getcontext"));
  g_init_local =
      reinterpret_cast<int (*)(unw_cursor_t*, unw_context_t*)>(dlsym(h, "_ULx86_64_init_local"));
  g_step = reinterpret_cast<int (*)(unw_cursor_t*)>(dlsym(h, "_ULx86_64_step"));
  g_get_reg = reinterpret_cast<int (*)(unw_cursor_t*, int, unw_word_t*)>(
      dlsym(h, "_ULx86_64_get_reg"));
  if (!g_unw_backtrace || !g_getcontext || !g_init_local || !g_step || !g_get_reg) return 2;
  profagent::unwinder_init();
  profagent::unwind_tables_refresh();
  recurse(17);
  printf("ours_depth %d\nlibunwind_depth %d\n", g_ours_depth, g_lib_depth);
  printf("ours_ns %.1f\nlibunwind_ns %.1f\nratio %.2f\n", g_ours_ns, g_lib_ns, g_lib_ns / g_ours_ns);
  printf("libunwind_step_depth %d\nlibunwind_step_ns %.1f\nstep_ratio %.1f\n", g_step_depth,
         g_step_ns, g_step_ns / g_ours_ns);
  return 0;
}
