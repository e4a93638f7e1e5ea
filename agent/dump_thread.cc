// The dump thread's loop. Normal context (it is an agent thread: every signal blocked, the
// in-agent flag set for its whole life), except wake_dump_thread and request_collector_tick:
// SIGNAL-SAFE (an atomic word and a futex wake-up; no descriptor the program could close or
// reuse under us).
//
// It first finishes the agent's start (finish_agent_start) after a 2 ms grace, or sooner when
// woken, so a process that ends at once never pays for that work. Then it sleeps until its
// next real deadline: the next PROFAGENT_INTERVAL dump, a
// collector's tick it asked for (at most kTickDelayMillis after asking), or a wake-up (dump
// or termination signal, last program thread gone). An idle process costs it nothing.
#include "agent/dump_thread.h"

#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

#include "agent/agent.h"
#include "agent/core/code_layout.h"
#include "agent/core/contained.h"
#include "agent/core/fork_child.h"
#include "agent/core/futex.h"
#include "agent/core/large_bss.h"
#include "agent/core/process_id.h"
#include "agent/runtime/private_files.h"
#include "agent/runtime/agent_thread.h"
#include "agent/core/clock.h"
#include "agent/core/log.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/signal_retry.h"
#include "agent/core/termination_wait.h"
#include "agent/runtime/thread_start_point.h"
#include "agent/runtime/threads/thread_registry.h"
#include "collectors/common/self_stats.h"
#include "agent/signals.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/core/wakeup.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

// How long after a collector asks for a tick it gets one: samples arriving meanwhile are
// drained together.
constexpr int64_t kTickDelayNanos = 100 * 1000000LL;

// The process whose dump thread runs (0: none). A pid, not a flag: a fork child inherits the
// parent's value, and a signal can reach the child before its atfork handler forgets it.
std::atomic<pid_t> g_running_pid{0};

bool running_here() noexcept { return is_own_pid(g_running_pid.load(std::memory_order_acquire)); }
std::atomic<bool> g_dump_requested{false};
std::atomic<bool> g_final_requested{false};
std::atomic<pid_t> g_final_exiting_tid{0};  // the thread that asked for the final dump
std::atomic<uint32_t> g_final_done{0};  // a futex word: 1 once the final dump asked for ran
std::atomic<LastThreadCheck> g_last_thread_check{nullptr};
PROFAGENT_FORK_BSS constinit int64_t g_interval_nanos = 0;  // (a fork child's defer writes it)
std::atomic<pid_t> g_dump_tid{0};  // the running dump thread's tid (0: not known)
// The next PROFAGENT_INTERVAL dump (monotonic ns; 0: none due). Kept across a stop and
// restart (a namespace change), so changes more frequent than the interval do not put the
// periodic dumps off for good; the dump thread alone updates it while it runs.
int64_t g_next_interval = 0;

// stop_dump_thread's request: kRun, kStopAsked (set by the stopper), kStopping (the thread saw
// it and is ending). A stopper that gives up takes kStopAsked back to kRun.
enum StopState : int { kRun, kStopAsked, kStopping };
std::atomic<int> g_stop_state{kRun};

// Called by the dump thread between pieces of work: true if it is to end now.
bool stop_asked() noexcept {
  int asked = kStopAsked;
  return g_stop_state.compare_exchange_strong(asked, kStopping);
}

// The cached unwind tables mapped at start are checksummed (and the module set published
// again without their checks) this long after the thread starts, not at once: a process of
// a shell script or a build that lives a few milliseconds never spends the ~0.5 ms of CPU
// that reading every table costs, nor competes with the program for it. Walks use a mapped
// table before its check either way (table_check.h).
constexpr int64_t kTablesCheckDelayNanos = 100 * 1000000LL;
int64_t g_tables_check_due = 0;  // monotonic ns; 0: due (checked at every wake-up)

// Runs whatever is due. Returns false to look again at once (a tick ran: one asked for
// meanwhile is scheduled), else true with the deadline of the next due work (0: none).
bool run_due_work(int64_t* next_interval, int64_t* next_tick, int64_t* deadline) {
  if (int sig = pending_termination_signal()) {
    dump_now(/*final=*/true);
    die_of_signal(sig);
  }
  if (g_final_requested.exchange(false)) {
    dump_now(/*final=*/true, g_final_exiting_tid.load());
    g_final_done.store(1, std::memory_order_release);
    futex_wake(g_final_done, 1);
  }
  if (LastThreadCheck check = g_last_thread_check.load()) check();
  if (g_tables_check_due != 0 && monotonic_nanos() >= g_tables_check_due) g_tables_check_due = 0;
  if (g_tables_check_due == 0)  // cached tables mapped since: checked here, off the program
    run_contained("checking the cached unwind tables", unwind_tables_check_pending);
  if (g_dump_requested.exchange(false)) dump_now(false);
  int64_t now = monotonic_nanos();
  if (*next_interval != 0 && now >= *next_interval) {
    dump_now(false);
    // Keep the cadence; skip intervals missed while a dump ran long.
    now = monotonic_nanos();
    while (*next_interval <= now) *next_interval += g_interval_nanos;
  }
  if (tick_requested() && *next_tick == 0) *next_tick = now + kTickDelayNanos;
  if (*next_tick != 0 && now >= *next_tick) {
    if (!tick_requested()) {
      // A look ahead found no request since the last tick: the samples stopped. Requests
      // wake us again from now on; one made just before that is seen here.
      expect_tick_requests(false);
      if (!tick_requested()) {
        *next_tick = 0;
        return false;
      }
    }
    clear_tick_request();  // before the tick: a new ask re-arms
    log_sigprof_sharing_once();
    int64_t tick_start = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
    // Out of memory: the samples wait for the next tick, the tables for the next refresh.
    run_contained("draining the samples", [] {
      unwind_tables_refresh();  // modules loaded since the last tick get their tables
      tick_collectors();
    });
    int64_t tick_end = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
    self_add_cost(SelfCost::kTick, tick_end - tick_start);
    // Samples are coming: look again in kTickDelayNanos without being woken, so the signal
    // handlers need no system call to ask for the next tick (wakeup.h).
    expect_tick_requests(true);
    *next_tick = monotonic_nanos() + kTickDelayNanos;
    return false;
  }
  *deadline = *next_interval;
  if (*next_tick != 0 && (*deadline == 0 || *next_tick < *deadline)) *deadline = *next_tick;
  if (g_tables_check_due != 0 && (*deadline == 0 || g_tables_check_due < *deadline))
    *deadline = g_tables_check_due;
  return true;
}

// What the program's start left to this thread (finish_agent_start: the first unwind tables,
// pre-faulted sample pages; then the output directory) waits kStartGraceNanos, or until anything
// wakes the thread first (a dump or termination signal, a sample that found no unwind
// tables or a sampled allocation made before them, the program's exit). A process that ends
// within it (a shell's `true`, `sed` or `test`) never does that work: done at once on
// another core it still cost such a process ~0.1 ms of wall time (its address space
// locked, its TLB flushed by our mmap calls).
constexpr int64_t kStartGraceNanos = 2 * 1000000LL;

uint32_t g_start_wakeups = 0;  // the wake-up count before the thread was made
int64_t g_start_grace_due = 0;

// False if the thread is to end at once (stop_dump_thread).
bool finish_start_after_grace() {
  // Any wake-up since the thread was asked for ends the grace (one made before it ran is not
  // missed), as does a walk that waits for the tables.
  const uint32_t seen = g_start_wakeups;
  while (monotonic_nanos() < g_start_grace_due && !unwind_tables_wanted() &&
         wakeup_count() == seen)
    wait_for_wakeup(seen, g_start_grace_due);
  // A termination signal goes first (run_due_work dumps and ends the process); a stop asked
  // for within the grace leaves the start's work to the thread that comes back.
  if (pending_termination_signal() == 0 && stop_asked()) return false;
  // What the dump thread opens from here on never takes a descriptor number of the program's
  // (a process that ends within the grace pays for none of it: nothing was opened before).
  enter_private_file_table();
  // A termination signal or an exit waiting for its dump goes first: that dump needs none
  // of this (a walk of another thread builds the tables itself).
  if (pending_termination_signal() == 0 && !g_final_requested.load()) {
    finish_agent_start();
    prepare_profile_directory();
  }
  return true;
}

void* dump_thread_main(void*) {
  g_dump_tid.store(current_tid());  // (also where tid_of_thread could not tell it)
  if (!finish_start_after_grace()) return nullptr;
  int64_t& next_interval = g_next_interval;
  int64_t next_tick = 0;  // 0: no collector asked for one
  // A tick asked for before this thread ran is due at once: in a fork child it is the wall
  // collector's, whose sampler the tick starts, and the child may live less than the usual
  // delay (a forked worker of ~0.15 s then wrote no wall profile, 4-8 runs in 20).
  if (tick_requested()) next_tick = monotonic_nanos();
  for (;;) {
    uint32_t seen = wakeup_count();
    int64_t deadline = 0;
    bool idle = true;
    // What its pieces did not contain (a log line's logger, made out of memory) costs this
    // round only: the thread lives on, so an exit still gets its dump, and looks again soon.
    if (!run_contained("the dump thread's work",
                       [&] { idle = run_due_work(&next_interval, &next_tick, &deadline); }))
      deadline = monotonic_nanos() + kTickDelayNanos;
    if (stop_asked()) return nullptr;  // after the due work: a pending termination went first
    if (idle) wait_for_wakeup(seen, deadline);
  }
  return nullptr;
}

// The process whose dump thread is deferred (0: none; a pid, as g_running_pid), and the one
// in which a deferred thread is being started (between the two, a termination signal can
// neither start it nor wait for it: it comes back a moment later, signals.cc).
// (Written by a fork child's defer_dump_thread: with the rest of what it writes, large_bss.h.)
PROFAGENT_FORK_BSS constinit std::atomic<pid_t> g_deferred_pid{0};
PROFAGENT_FORK_BSS constinit std::atomic<pid_t> g_starting_pid{0};
// Points offered by the CPU handler and the heap hook and refused in a row: past
// kOffersBeforeBackoff only every kOfferBackoff-th is looked at (a thread that stays where
// the rule refuses, deep in a recursion or a qsort callback, does not pay another walk at
// every sample).
PROFAGENT_FORK_BSS constinit std::atomic<uint32_t> g_refused_offers{0};
constexpr uint32_t kOffersBeforeBackoff = 8;
constexpr uint32_t kOfferBackoff = 16;

// start_dump_thread's work. `in_handler`: called from a signal handler (no log, no checksum
// work when the thread cannot be made).
bool start_thread(int64_t interval_nanos, bool in_handler) {
  // Tables the start deferred are mapped while this is still the process's only thread (the
  // mapping holds a descriptor for a moment: deferred_tables.h); the thread's refresh then
  // keeps them.
  map_deferred_unwind_tables();
  g_deferred_pid.store(0, std::memory_order_release);
  set_deferred_dump_thread_starter(nullptr);
  // A retry still armed for a termination signal stays: it comes back to find this thread
  // running and dumps through it. (One for the dump signal is done: its request stands.)
  if (termination_waiting() == 0) end_signal_retries();
  g_interval_nanos = interval_nanos;
  g_stop_state.store(kRun);
  if (g_next_interval == 0 && interval_nanos > 0)
    g_next_interval = monotonic_nanos() + interval_nanos;
  // A new thread has no tick scheduled: a collector's request must wake it (a thread stopped
  // right after a tick had told the handlers it would look by itself).
  expect_tick_requests(false);
  g_tables_check_due = monotonic_nanos() + kTablesCheckDelayNanos;
  g_start_wakeups = wakeup_count();
  g_start_grace_due = monotonic_nanos() + kStartGraceNanos;
  pthread_t thread;
  if (int rc = create_agent_thread(&thread, dump_thread_main, nullptr, "profagent-dump")) {
    g_running_pid.store(0, std::memory_order_release);  // (restart_dump_thread: none now)
    g_dump_tid.store(0);
    if (in_handler) return false;
    if (rc == EINVAL) {
      // The kernel makes no thread for a process that unshared a PID namespace (its children
      // go there, it stays): expected, not the user's doing; the exit dump still runs.
      log_info("no dump thread: this process cannot make threads after unshare(CLONE_NEWPID); "
               "dumps happen only at exit");
    } else {
      // (Allocation-free: a thread that cannot be made is most often a process out of memory,
      // where building the logger would throw out of this noexcept path.)
      char line[96];
      snprintf(line, sizeof line,
               "cannot start the dump thread (error %d); dumps happen only at exit", rc);
      log_warning_direct(line);
    }
    unwind_tables_check_pending();  // its job at start: the cached unwind tables' checksums
    return false;
  }
  g_dump_tid.store(tid_of_thread(thread));
  pthread_detach(thread);
  g_running_pid.store(own_pid(), std::memory_order_release);
  return true;
}

// Takes the deferred start for this caller (false: not deferred here, or taken meanwhile),
// runs it, and ends the "starting" state.
bool take_and_start(pid_t pid, bool in_handler) noexcept {
  if (!g_deferred_pid.compare_exchange_strong(pid, 0)) return false;
  g_starting_pid.store(pid, std::memory_order_release);
  bool started = start_thread(g_interval_nanos, in_handler);
  g_starting_pid.store(0, std::memory_order_release);
  return started;
}

// The CPU handler's and the heap hook's offers (wakeup.h), with the back-off above. A
// process that forked takes only the offers of work that cannot wait (dump_thread.h).
PROFAGENT_START_PATH bool offered_point(const void* ucontext, bool needed) noexcept {
  if (!needed && has_forked()) return false;
  uint32_t refused = g_refused_offers.load(std::memory_order_relaxed);
  if (refused >= kOffersBeforeBackoff && refused % kOfferBackoff != 0) {
    g_refused_offers.store(refused + 1, std::memory_order_relaxed);
    return false;
  }
  if (start_deferred_dump_thread_at(ucontext) == DeferredStart::kRunning) return true;
  g_refused_offers.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace

PROFAGENT_START_PATH
bool start_dump_thread(int64_t interval_nanos) {
  return start_thread(interval_nanos, /*in_handler=*/false);
}

PROFAGENT_FORK_PATH void defer_dump_thread(int64_t interval_nanos, pid_t pid) noexcept {
  g_interval_nanos = interval_nanos;
  g_refused_offers.store(0);
  g_starting_pid.store(0);
  g_deferred_pid.store(pid, std::memory_order_release);
  set_deferred_dump_thread_starter(offered_point);
}

PROFAGENT_START_PATH bool dump_thread_deferred() noexcept {
  return is_own_pid(g_deferred_pid.load(std::memory_order_acquire));
}

bool dump_thread_starting() noexcept {
  return is_own_pid(g_starting_pid.load(std::memory_order_acquire));
}

void start_deferred_dump_thread(bool in_handler) {
  pid_t pid = own_pid();
  if (g_deferred_pid.load(std::memory_order_acquire) != pid) return;
  take_and_start(pid, in_handler);
}

DeferredStart start_deferred_dump_thread_at(const void* ucontext) noexcept {
  pid_t pid = own_pid();
  if (g_deferred_pid.load(std::memory_order_acquire) != pid)
    return running_here() ? DeferredStart::kRunning : DeferredStart::kNotHere;
  if (ucontext != nullptr) {
    switch (may_start_thread_at(ucontext)) {
      case StartPoint::kAccepted: break;
      case StartPoint::kRefused: return DeferredStart::kNotHere;
      case StartPoint::kRefusedWhileBlocked: return DeferredStart::kNotWhileBlocked;
    }
  } else if (!may_start_thread_here()) {
    return DeferredStart::kNotHere;
  }
  // (A start interrupted in the pthread_create hook has the hook's frame on the stack, which
  // the rule refuses: only one start ever runs.)
  take_and_start(pid, /*in_handler=*/true);
  return running_here() ? DeferredStart::kRunning : DeferredStart::kNotHere;
}

bool stop_dump_thread(int64_t timeout_nanos) {
  if (!running_here()) return true;
  const pid_t tid = g_dump_tid.load();
  if (tid == 0) return false;  // cannot tell when it is gone
  const int64_t deadline = monotonic_nanos() + timeout_nanos;
  g_stop_state.store(kStopAsked);
  wake_dump_thread();
  while (g_stop_state.load() == kStopAsked && monotonic_nanos() < deadline) {
    timespec pause{0, 20 * 1000};
    nanosleep(&pause, nullptr);
  }
  int asked = kStopAsked;
  if (g_stop_state.compare_exchange_strong(asked, kRun)) return false;  // busy: it runs on
  // kStopping: the thread returns from its body at once (the wait is for the kernel to let
  // go of it). g_running_pid keeps this pid: a termination signal meanwhile waits for the
  // restarted thread rather than dying undumped.
  if (!wait_for_agent_thread_end(tid, 1000000000LL))
    log_debug("the dump thread {} is still ending after 1 s", tid);
  return true;
}

bool restart_dump_thread() { return start_dump_thread(g_interval_nanos); }

PROFAGENT_START_PATH bool dump_requested() noexcept { return g_dump_requested.load(); }

void request_dump() noexcept {
  g_dump_requested.store(true);
  wake_dump_thread();
}

bool final_dump_on_dump_thread(int64_t timeout_nanos, pid_t exiting_tid) noexcept {
  // The dump thread itself may end the process (program_threads.cc, when no thread could
  // be made for that): it would wait for itself, then exit without the dump.
  if (!running_here() || current_tid() == g_dump_tid.load()) return false;
  g_final_exiting_tid.store(exiting_tid);
  g_final_requested.store(true);
  wake_dump_thread();
  const int64_t deadline = monotonic_nanos() + timeout_nanos;
  while (g_final_done.load(std::memory_order_acquire) == 0 && monotonic_nanos() < deadline)
    futex_wait_until(g_final_done, 0, deadline);
  return true;
}

PROFAGENT_START_PATH
void set_last_thread_check(LastThreadCheck check) noexcept { g_last_thread_check.store(check); }

bool dump_thread_running() noexcept { return running_here(); }

PROFAGENT_FORK_PATH void forget_dump_thread_after_fork() noexcept {
  reset_wakeups_after_fork();
  store_if_changed(g_running_pid, 0);
  store_if_changed(g_deferred_pid, 0);
  store_if_changed(g_dump_requested, false);
  store_if_changed(g_final_requested, false);
  store_if_changed(g_final_done, 0);
  assign_if_changed(g_next_interval, 0);
}

}  // namespace profagent
