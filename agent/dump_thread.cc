// The dump thread's loop. Normal context (it is an agent thread: every signal blocked, the
// in-agent flag set for its whole life), except wake_dump_thread: SIGNAL-SAFE (an atomic
// increment and a futex wake: no descriptor, which the host could close or reuse).
#include "agent/dump_thread.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "agent/agent.h"
#include "agent/agent_thread.h"
#include "agent/clock.h"
#include "agent/log.h"
#include "agent/sampling_signal.h"
#include "agent/self_stats.h"
#include "agent/signals.h"
#include "agent/unwind/unwinder.h"

namespace profagent {
namespace {

constexpr int kTickMillis = 100;

// Wake-up counter: the dump thread sleeps on it with FUTEX_WAIT, a wake bumps it.
std::atomic<uint32_t> g_wake{0};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
std::atomic<bool> g_running{false};
std::atomic<bool> g_dump_requested{false};
int64_t g_interval_nanos = 0;

void* dump_thread_main(void*) {
  int64_t next_interval = g_interval_nanos > 0 ? monotonic_nanos() + g_interval_nanos : 0;
  int64_t next_tick = monotonic_nanos() + kTickMillis * 1000000LL;
  uint32_t last_wake = g_wake.load();
  for (;;) {
    int64_t now = monotonic_nanos();
    int64_t wake = next_tick;
    if (next_interval != 0 && next_interval < wake) wake = next_interval;
    int timeout_ms = wake > now ? static_cast<int>((wake - now + 999999) / 1000000) : 0;
    uint32_t seen = g_wake.load(std::memory_order_acquire);
    if (seen == last_wake && timeout_ms > 0) {
      timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
      syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake), FUTEX_WAIT_PRIVATE, seen, &ts,
              nullptr, 0);
    }
    last_wake = g_wake.load(std::memory_order_acquire);
    if (int sig = pending_termination_signal()) {
      dump_now(/*final=*/true);
      die_of_signal(sig);
    }
    if (g_dump_requested.exchange(false)) dump_now(false);
    now = monotonic_nanos();
    if (next_interval != 0 && now >= next_interval) {
      dump_now(false);
      // Keep the cadence; skip intervals missed while a dump ran long.
      while (next_interval <= now) next_interval += g_interval_nanos;
    }
    if (now >= next_tick) {
      log_sigprof_sharing_once();
      int64_t tick_start = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
      unwind_tables_refresh();  // modules loaded since the last tick get their tables
      tick_collectors();
      self_add_cost(SelfCost::kTick, clock_nanos(CLOCK_THREAD_CPUTIME_ID) - tick_start);
      next_tick = now + kTickMillis * 1000000LL;
    }
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
  int saved_errno = errno;
  g_wake.fetch_add(1, std::memory_order_release);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&g_wake), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
  errno = saved_errno;
}

void request_dump() noexcept {
  g_dump_requested.store(true);
  wake_dump_thread();
}

bool dump_thread_running() noexcept { return g_running.load(std::memory_order_acquire); }

void forget_dump_thread_after_fork() noexcept {
  g_running.store(false);
  g_dump_requested.store(false);
}

}  // namespace profagent
