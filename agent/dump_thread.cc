// The dump thread's loop. Normal context (it is an agent thread: every signal blocked, the
// in-agent flag set for its whole life), except wake_dump_thread: SIGNAL-SAFE (eventfd
// write only).
#include "agent/dump_thread.h"

#include <poll.h>
#include <sys/eventfd.h>
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

std::atomic<int> g_eventfd{-1};
std::atomic<bool> g_running{false};
std::atomic<bool> g_dump_requested{false};
int64_t g_interval_nanos = 0;

void* dump_thread_main(void*) {
  int64_t next_interval = g_interval_nanos > 0 ? monotonic_nanos() + g_interval_nanos : 0;
  int64_t next_tick = monotonic_nanos() + kTickMillis * 1000000LL;
  for (;;) {
    int64_t now = monotonic_nanos();
    int64_t wake = next_tick;
    if (next_interval != 0 && next_interval < wake) wake = next_interval;
    int timeout_ms = wake > now ? static_cast<int>((wake - now + 999999) / 1000000) : 0;
    pollfd p{g_eventfd.load(), POLLIN, 0};
    if (poll(&p, 1, timeout_ms) > 0 && (p.revents & POLLIN)) {
      uint64_t value;
      ssize_t ignored = read(p.fd, &value, sizeof value);
      (void)ignored;
    }
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
      for (Collector* c : running_collectors()) c->on_tick();
      self_add_cost(SelfCost::kTick, clock_nanos(CLOCK_THREAD_CPUTIME_ID) - tick_start);
      next_tick = now + kTickMillis * 1000000LL;
    }
  }
  return nullptr;
}

}  // namespace

bool start_dump_thread(int64_t interval_nanos) {
  g_interval_nanos = interval_nanos;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    log().warn("cannot create the dump thread's eventfd; dumps happen only at exit");
    return false;
  }
  g_eventfd.store(fd);
  pthread_t thread;
  if (int rc = create_agent_thread(&thread, dump_thread_main, nullptr, "profagent-dump")) {
    log().warn("cannot start the dump thread (error {}); dumps happen only at exit", rc);
    close(fd);
    g_eventfd.store(-1);
    return false;
  }
  pthread_detach(thread);
  g_running.store(true);
  return true;
}

void wake_dump_thread() noexcept {
  int fd = g_eventfd.load(std::memory_order_acquire);
  if (fd < 0) return;
  uint64_t one = 1;
  ssize_t ignored = write(fd, &one, sizeof one);
  (void)ignored;
}

void request_dump() noexcept {
  g_dump_requested.store(true);
  wake_dump_thread();
}

bool dump_thread_running() noexcept { return g_running.load(std::memory_order_acquire); }

void forget_dump_thread_after_fork() noexcept {
  // The eventfd is shared with the parent: a child must not consume the parent's wake-ups.
  int fd = g_eventfd.exchange(-1);
  if (fd >= 0) close(fd);
  g_running.store(false);
  g_dump_requested.store(false);
}

}  // namespace profagent
