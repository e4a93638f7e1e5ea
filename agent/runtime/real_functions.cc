// The hooks' real functions resolved now or later (see real_functions.h). Normal context at
// load; resolve_kept_functions in any context while the process has one thread (atomics and
// next_symbol's lock-free table lookup).
#include "agent/runtime/real_functions.h"

#include <pthread.h>
#include <sys/single_threaded.h>

#include <atomic>

#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr int kMaxKept = 8;
constinit std::atomic<Resolution> g_kept[kMaxKept] = {};
constinit std::atomic<int> g_kept_count{0};

void resolve_kept_before_fork() noexcept { resolve_kept_functions(); }

}  // namespace

PROFAGENT_START_PATH void resolve_at_load_or_later(Resolution resolve) noexcept {
  real_functions_detail::resolve_now_or_keep(resolve, __libc_single_threaded != 0);
}

PROFAGENT_START_PATH void real_functions_detail::resolve_now_or_keep(Resolution resolve,
                                                                     bool one_thread) noexcept {
  if (!one_thread) {
    resolve();
    return;
  }
  const int slot = g_kept_count.fetch_add(1, std::memory_order_relaxed);
  if (slot >= kMaxKept) {  // (more files than slots: resolved now)
    resolve();
    return;
  }
  g_kept[slot].store(resolve, std::memory_order_release);
  // Once: before every fork, so that a shell's children inherit the tables filled.
  if (slot == 0) pthread_atfork(resolve_kept_before_fork, nullptr, nullptr);
}

PROFAGENT_START_PATH void resolve_kept_functions() noexcept {
  const int count = g_kept_count.load(std::memory_order_acquire);
  for (int i = 0; i < count && i < kMaxKept; ++i) {
    // (Taken, so each runs once; a handler that interrupts this and comes here again skips
    // the one under way, whose table its first get() fills if it is needed before.)
    if (Resolution resolve = g_kept[i].exchange(nullptr, std::memory_order_acq_rel))
      resolve();
  }
}

}  // namespace profagent
