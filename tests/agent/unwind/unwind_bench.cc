// Benchmark: the agent's walker vs libunwind's unw_backtrace (dlopen'ed privately) on the
// same 20-frame stacks. Prints "ours_ns <x>", "libunwind_ns <y>", "ratio <y/x>" and checks
// that both saw the same depth. Run by scripts/bench-unwind.
#include <dlfcn.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>

#include "agent/unwind/thread_stack.h"
#include "agent/unwind/unwinder.h"

namespace {

int (*g_unw_backtrace)(void**, int);
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
  for (int round = 0; round < 2; ++round) {  // the first round warms caches up
    double a = now_ns();
    for (int i = 0; i < g_iterations; ++i) g_ours_depth = profagent::unwind_from_hook(pcs, 64);
    double b = now_ns();
    for (int i = 0; i < g_iterations; ++i) g_lib_depth = g_unw_backtrace(raw, 64);
    double c = now_ns();
    g_ours_ns = (b - a) / g_iterations;
    g_lib_ns = (c - b) / g_iterations;
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
  if (g_unw_backtrace == nullptr) return 2;
  profagent::unwinder_init();
  recurse(17);
  printf("ours_depth %d\nlibunwind_depth %d\n", g_ours_depth, g_lib_depth);
  printf("ours_ns %.1f\nlibunwind_ns %.1f\nratio %.1f\n", g_ours_ns, g_lib_ns, g_lib_ns / g_ours_ns);
  return 0;
}
