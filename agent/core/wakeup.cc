// The dump thread's futex wake-up word (see wakeup.h). SIGNAL-SAFE: atomics and the futex
// system call.
#include "agent/core/wakeup.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "agent/core/sample_path.h"

namespace profagent {
namespace {

std::atomic<uint32_t> g_wake_word{0};  // bumped by every wake-up (futex word)
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
std::atomic<bool> g_tick_requested{false};
std::atomic<bool> g_tick_expected{false};  // the dump thread will look by itself

}  // namespace

void wake_dump_thread() noexcept {
  int saved = errno;
  g_wake_word.fetch_add(1, std::memory_order_acq_rel);
  syscall(SYS_futex, &g_wake_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  errno = saved;
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
  timespec abs_time;
  timespec* timeout = nullptr;
  if (deadline != 0) {
    abs_time.tv_sec = deadline / 1000000000;
    abs_time.tv_nsec = deadline % 1000000000;
    timeout = &abs_time;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (no drift over long sleeps).
  syscall(SYS_futex, &g_wake_word, FUTEX_WAIT_BITSET_PRIVATE, seen, timeout, nullptr,
          FUTEX_BITSET_MATCH_ANY);
}

void reset_wakeups_after_fork() noexcept {
  g_wake_word.store(0);
  g_tick_requested.store(false);
  g_tick_expected.store(false);
}

}  // namespace profagent
