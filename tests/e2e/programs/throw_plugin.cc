// A C++ plugin the C host (unwind_host.c) dlopens: throws and catches exceptions through
// several frames, and ends a thread with pthread_exit through frames with destructors.
#include <pthread.h>

#include <stdexcept>
#include <string>

namespace {

volatile int g_sink;

struct Guard {
  ~Guard() { g_sink = g_sink + 1; }
};

[[gnu::noinline]] void throw_deep(int depth, int i) {
  Guard g;
  if (depth == 0) throw std::runtime_error("plugin error " + std::to_string(i));
  throw_deep(depth - 1, i);
}

[[gnu::noinline]] void exit_deep(int depth) {
  Guard g;
  if (depth > 100) return;
  if (depth <= 0) pthread_exit(nullptr);
  exit_deep(depth - 1);
  g_sink = g_sink + depth;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int plugin_throw_many(int n) {
  int caught = 0;
  for (int i = 0; i < n; ++i) {
    try {
      throw_deep(3, i);
    } catch (const std::exception&) {
      ++caught;
    }
  }
  return caught;
}

extern "C" __attribute__((visibility("default"))) void plugin_exit_thread() {
  try {
    exit_deep(3);
  } catch (const std::exception&) {
  }
}
