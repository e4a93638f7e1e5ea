// The dump thread's loop. Normal context (it is an agent thread: every signal blocked, the
// in-agent flag set for its whole life), except wake_dump_thread and request_collector_tick:
// SIGNAL-SAFE (an atomic word and a futex wake-up; no descriptor the program could close or
// reuse under us).
//
// The thread sleeps until its next real deadline: the next PROFAGENT_INTERVAL dump, a
// collector's tick it asked for (at most kTickDelayMillis after asking), or a wake-up (dump
// or termination signal, last program thread gone). An idle process costs it nothing.
#include "agent/dump_thread.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "agent/agent.h"
#include "agent/agent_thread.h"
#include "agent/clock.h"
#include "agent/log.h"
#include "agent/sampling_signal.h"
#include "agent/self_stats.h"
#include "agent/signals.h"

namespace profagent {
namespace {

// How long after a collector asks for a tick it gets one: samples arriving meanwhile are
// drained together.
constexpr int64_t kTickDelayNanos = 100 * 1000000LL;

std::atomic<uint32_t> g_wake_word{0};  // bumped by every wake-up (futex word)
std::atomic<bool> g_running{false};
std::atomic<bool> g_dump_requested{false};
std::atomic<bool> g_tick_requested{false};
std::atomic<LastThreadCheck> g_last_thread_check{nullptr};
int64_t g_interval_nanos = 0;

// Sleeps until the wake word moves past `seen` or until `deadline` (CLOCK_MONOTONIC ns;
// 0 = no deadline).
void sleep_until(uint32_t seen, int64_t deadline) {
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

void* dump_thread_main(void*) {
  int64_t next_interval = g_interval_nanos > 0 ? monotonic_nanos() + g_interval_nanos : 0;
  int64_t next_tick = 0;  // 0: no collector asked for one
  for (;;) {
    uint32_t seen = g_wake_word.load(std::memory_order_acquire);
    if (int sig = pending_termination_signal()) {
      dump_now(/*final=*/true);
      die_of_signal(sig);
    }
    if (LastThreadCheck check = g_last_thread_check.load()) check();
    if (g_dump_requested.exchange(false)) dump_now(false);
    int64_t now = monotonic_nanos();
    if (next_interval != 0 && now >= next_interval) {
      dump_now(false);
      // Keep the cadence; skip intervals missed while a dump ran long.
      now = monotonic_nanos();
      while (next_interval <= now) next_interval += g_interval_nanos;
    }
    if (g_tick_requested.load(std::memory_order_acquire) && next_tick == 0)
      next_tick = now + kTickDelayNanos;
    if (next_tick != 0 && now >= next_tick) {
      g_tick_requested.store(false, std::memory_order_release);  // before: a new ask re-arms
      next_tick = 0;
      log_sigprof_sharing_once();
      int64_t tick_start = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
      for (Collector* c : running_collectors()) c->on_tick();
      self_add_cost(SelfCost::kTick, clock_nanos(CLOCK_THREAD_CPUTIME_ID) - tick_start);
      continue;  // re-read the wake word: a tick asked for meanwhile is scheduled
    }
    int64_t deadline = next_interval;
    if (next_tick != 0 && (deadline == 0 || next_tick < deadline)) deadline = next_tick;
    sleep_until(seen, deadline);
  }
  return nullptr;
}

}  // namespace

bool start_dump_thread(int64_t interval_nanos) {
  g_interval_nanos = interval_nanos;
  pthread_t thread;
  if (int rc = create_agent_thread(&thread, dump_thread_main, nullptr, "profagent-dump")) {
    log().warn("cannot start the dump thread (error {}); dumps happen only at exit", rc);
    return false;
  }
  pthread_detach(thread);
  g_running.store(true);
  return true;
}

void wake_dump_thread() noexcept {
  int saved = errno;
  g_wake_word.fetch_add(1, std::memory_order_acq_rel);
  syscall(SYS_futex, &g_wake_word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  errno = saved;
}

void request_collector_tick() noexcept {
  if (g_tick_requested.load(std::memory_order_relaxed)) return;
  if (g_tick_requested.exchange(true, std::memory_order_acq_rel)) return;
  wake_dump_thread();
}

void request_dump() noexcept {
  g_dump_requested.store(true);
  wake_dump_thread();
}

void set_last_thread_check(LastThreadCheck check) noexcept { g_last_thread_check.store(check); }

bool dump_thread_running() noexcept { return g_running.load(std::memory_order_acquire); }

void forget_dump_thread_after_fork() noexcept {
  g_wake_word.store(0);
  g_running.store(false);
  g_dump_requested.store(false);
  g_tick_requested.store(false);
}

}  // namespace profagent
