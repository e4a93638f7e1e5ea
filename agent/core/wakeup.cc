// The dump thread's futex wake-up word (see wakeup.h). SIGNAL-SAFE: atomics and the futex
// system call (agent/core/futex.h).
#include "agent/core/wakeup.h"

#include <atomic>

#include "agent/core/code_layout.h"
#include "agent/core/futex.h"
#include "agent/core/large_bss.h"
#include "agent/core/sample_path.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

std::atomic<uint32_t> g_wake_word{0};  // bumped by every wake-up (futex word)
std::atomic<bool> g_tick_requested{false};
std::atomic<bool> g_tick_expected{false};  // the dump thread will look by itself
// (Set again by a fork child's defer: with the rest of what it writes, large_bss.h.)
PROFAGENT_FORK_BSS constinit std::atomic<DeferredDumpThreadStarter> g_deferred_starter{nullptr};

}  // namespace

void wake_dump_thread() noexcept {
  g_wake_word.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(g_wake_word, 1);
}

PROFAGENT_SAMPLE_PATH void request_collector_tick() noexcept {
  if (g_tick_requested.load(std::memory_order_relaxed)) return;
  // seq_cst here and in expect_tick_requests(false) + tick_requested(): of "set the
  // request, then read the expectation" and "clear the expectation, then read the request"
  // at least one sees the other's store, so a request is never left unseen and unwoken.
  if (g_tick_requested.exchange(true, std::memory_order_seq_cst)) return;
  if (g_tick_expected.load(std::memory_order_seq_cst)) return;
  wake_dump_thread();
}

void expect_tick_requests(bool on) noexcept {
  g_tick_expected.store(on, std::memory_order_seq_cst);
}

uint32_t wakeup_count() noexcept { return g_wake_word.load(std::memory_order_acquire); }

bool tick_requested() noexcept { return g_tick_requested.load(std::memory_order_seq_cst); }

void clear_tick_request() noexcept { g_tick_requested.store(false, std::memory_order_release); }

void wait_for_wakeup(uint32_t seen, int64_t deadline) noexcept {
  futex_wait_until(g_wake_word, seen, deadline);
}

PROFAGENT_FORK_PATH void reset_wakeups_after_fork() noexcept {
  store_if_changed(g_wake_word, 0);
  store_if_changed(g_tick_requested, false);
  store_if_changed(g_tick_expected, false);
  store_if_changed(g_deferred_starter, nullptr);
}

PROFAGENT_START_PATH void offer_point_for_dump_thread(const void* ucontext, bool needed) noexcept {
  if (DeferredDumpThreadStarter start = g_deferred_starter.load(std::memory_order_relaxed))
    start(ucontext, needed);
}

PROFAGENT_FORK_PATH
void set_deferred_dump_thread_starter(DeferredDumpThreadStarter starter) noexcept {
  store_if_changed(g_deferred_starter, starter);
}

}  // namespace profagent
