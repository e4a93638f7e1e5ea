// Unit tests of the dump thread's loop (agent/dump_thread.h) without the rest of the agent
// (no agent started, so dumps and ticks have nothing to write): it runs the last-thread check
// at every wake-up (and once 100 ms after it starts), at its interval, and serves a
// collector's tick request by clearing it; a fork child sees none of the parent's.
// It can be stopped for a moment (stop_dump_thread: a namespace change) and started again,
// and deferred (a fork child's) until something starts it: once, from normal context or
// from a signal handler at a point that allows it.
// Every check runs in a forked child. What it dumps, and on
// which signal, is covered end to end (tests/e2e/continuous_e2e_test.cc,
// tests/e2e/signals_e2e_test.cc, tests/e2e/lifecycle_e2e_test.cc).
#include "agent/dump_thread.h"

#include <gtest/gtest.h>
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "agent/core/fork_child.h"
#include "agent/runtime/thread_start_point.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"
#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

std::atomic<int> g_checks{0};
void count_check() { g_checks.fetch_add(1); }

int64_t monotonic_ms() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

bool wait_until(const std::function<bool()>& done, int64_t ms = 10000) {
  int64_t end = monotonic_ms() + ms;
  while (!done()) {
    if (monotonic_ms() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Threads of this process, from /proc/self/task.
int task_count() {
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

void expect_passed(const testing::ChildResult& result) {
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

// In the forked child: starts the dump thread (no interval) with the counting last-thread
// check and waits for its first pass.
bool start_counting_dump_thread() {
  reset_wakeups_after_fork();
  set_last_thread_check(count_check);
  return start_dump_thread(0) && wait_until([] { return g_checks.load() >= 1; });
}

TEST(DumpThread, SleepsUntilWokenAndRunsTheLastThreadCheckAtEveryWake) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    CHILD_CHECK(start_counting_dump_thread());  // no interval: only wake-ups move it
    CHILD_CHECK(dump_thread_running());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int settled = g_checks.load();
    // Asleep, no busy loop: the first pass and the one 100 ms after start, when the cached
    // unwind tables are checked (dump_thread.cc), then nothing.
    CHILD_CHECK(settled == 2);
    for (int i = 1; i <= 3; ++i) {
      wake_dump_thread();
      CHILD_CHECK(wait_until([&] { return g_checks.load() >= settled + i; }));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHILD_CHECK(g_checks.load() == settled + 3);
    return "";
  }));
}

// A fork child has no dump thread, even before its atfork handler forgets the parent's (a
// termination signal can arrive in between: the handler must not wait for one).
TEST(DumpThread, AForkChildSeesNoDumpThreadBeforeItsAtforkHandlerRan) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    CHILD_CHECK(start_counting_dump_thread());
    CHILD_CHECK(dump_thread_running());
    int fds[2];
    CHILD_CHECK(pipe(fds) == 0);
    pid_t pid = fork();  // no atfork handler of the agent's in this test binary
    if (pid == 0) {
      char seen = dump_thread_running() ? 'y' : 'n';
      (void)!write(fds[1], &seen, 1);
      _exit(0);
    }
    close(fds[1]);
    char seen = '?';
    CHILD_CHECK(read(fds[0], &seen, 1) == 1);
    waitpid(pid, nullptr, 0);
    CHILD_CHECK(seen == 'n');
    CHILD_CHECK(dump_thread_running());  // the parent's still runs
    return "";
  }));
}

TEST(DumpThread, ServesATickRequestByClearingItAndSleepsAgain) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    CHILD_CHECK(start_counting_dump_thread());
    for (int round = 0; round < 2; ++round) {
      request_collector_tick();
      CHILD_CHECK(wait_until([] { return !tick_requested(); }));  // the tick ran
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int settled = g_checks.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHILD_CHECK(g_checks.load() == settled);  // no tick pending: asleep
    return "";
  }));
}

// While samples keep asking for ticks, the dump thread looks again ~100 ms after each tick
// by itself, so the requests (made from signal handlers) need no wake-up system call; when
// a look finds none, it stops looking and the next request wakes it.
TEST(DumpThread, TickRequestsThatKeepComingNeedNoWakeUpUntilTheyStop) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    CHILD_CHECK(start_counting_dump_thread());
    uint32_t before = wakeup_count();
    request_collector_tick();  // the first one after idle wakes it
    CHILD_CHECK(wakeup_count() == before + 1);
    CHILD_CHECK(wait_until([] { return !tick_requested(); }));
    int woken = 0;
    for (int round = 0; round < 5; ++round) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      uint32_t count = wakeup_count();
      request_collector_tick();
      if (wakeup_count() != count) ++woken;
      CHILD_CHECK(wait_until([] { return !tick_requested(); }));  // served all the same
    }
    // One may slip past a look ahead on a loaded machine; without the look ahead all 5 wake.
    if (woken > 1) return "requests woke the dump thread " + std::to_string(woken) + " times";
    std::this_thread::sleep_for(std::chrono::milliseconds(400));  // it looked, found none
    uint32_t idle = wakeup_count();
    request_collector_tick();
    CHILD_CHECK(wakeup_count() == idle + 1);  // stopped looking: woken again
    CHILD_CHECK(wait_until([] { return !tick_requested(); }));
    return "";
  }));
}

TEST(DumpThread, WakesAtItsIntervalWithoutBeingAsked) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    reset_wakeups_after_fork();
    set_last_thread_check(count_check);
    CHILD_CHECK(start_dump_thread(50 * 1000000LL));  // every 50 ms
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 6; }, 20000));
    return "";
  }));
}

}  // namespace
// Stopped for a moment, the thread leaves the process (the kernel counts one thread: what
// unshare(CLONE_NEWUSER) wants); started again it runs its checks at wake-ups as before. A
// stop asked for during the start grace works the same (a process that unshares at once).
TEST(DumpThread, StopsForAMomentAndComesBack) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    reset_wakeups_after_fork();
    set_last_thread_check(count_check);
    CHILD_CHECK(start_dump_thread(0));
    CHILD_CHECK(stop_dump_thread(1000 * 1000000LL));  // within its 2 ms grace
    CHILD_CHECK(task_count() == 1);
    CHILD_CHECK(dump_thread_running());  // a termination signal waits for the restart
    CHILD_CHECK(restart_dump_thread());
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 1; }));
    CHILD_CHECK(task_count() == 2);
    for (int round = 0; round < 20; ++round) {
      CHILD_CHECK(stop_dump_thread(1000 * 1000000LL));
      CHILD_CHECK(task_count() == 1);
      CHILD_CHECK(restart_dump_thread());
    }
    int before = g_checks.load();
    wake_dump_thread();
    CHILD_CHECK(wait_until([&] { return g_checks.load() > before; }));
    CHILD_CHECK(task_count() == 2);
    return "";
  }));
}

std::atomic<bool> g_slow_check{false};
void slow_check() {
  g_checks.fetch_add(1);
  if (g_slow_check.load()) std::this_thread::sleep_for(std::chrono::milliseconds(400));
}

// A thread busy for longer than the stop may wait (a long dump) is not stopped: it runs on,
// and the caller's change goes ahead (and fails as it would).
TEST(DumpThread, ABusyThreadIsNotStoppedAndRunsOn) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    reset_wakeups_after_fork();
    set_last_thread_check(slow_check);
    CHILD_CHECK(start_dump_thread(0));
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 1; }));
    g_slow_check.store(true);
    int before = g_checks.load();
    wake_dump_thread();
    CHILD_CHECK(wait_until([&] { return g_checks.load() > before; }));  // busy for 400 ms
    CHILD_CHECK(!stop_dump_thread(50 * 1000000LL));
    CHILD_CHECK(task_count() == 2);
    g_slow_check.store(false);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    before = g_checks.load();
    wake_dump_thread();
    CHILD_CHECK(wait_until([&] { return g_checks.load() > before; }));  // still serving
    return "";
  }));
}

namespace {

std::atomic<int> g_offers{0};
void offer_interrupted_point(int, siginfo_t*, void* uc) {
  offer_point_for_dump_thread(uc, /*needed=*/false);
  g_offers.fetch_add(1);
}

__attribute__((noinline)) void spin_until_started() {
  while (!dump_thread_running()) asm volatile("" ::: "memory");
}

// In the forked child: unwind tables for the point checks, a deferred thread.
void defer_with_tables() {
  note_current_thread_stack();
  unwind_tables_refresh();
  remember_libc_and_loader_code();
  reset_wakeups_after_fork();
  set_last_thread_check(count_check);
  defer_dump_thread(0);
}

}  // namespace

TEST(DumpThread, ADeferredThreadStartsOnceWhenAskedFor) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    defer_with_tables();
    CHILD_CHECK(dump_thread_deferred());
    CHILD_CHECK(!dump_thread_running());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHILD_CHECK(task_count() == 1);  // nothing started it
    start_deferred_dump_thread();
    CHILD_CHECK(dump_thread_running());
    CHILD_CHECK(!dump_thread_deferred());
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 1; }));
    start_deferred_dump_thread();  // no longer deferred: nothing more
    CHILD_CHECK(task_count() == 2);
    return "";
  }));
}

// A hook's offer from program code starts it; a signal's offer at raise() (inside glibc, not
// blocked in a system call) does not, and one at program code does.
TEST(DumpThread, ADeferredThreadStartsWhereAnOfferedPointAllowsIt) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    defer_with_tables();
    offer_point_for_dump_thread(nullptr, /*needed=*/false);  // a hook called from here
    CHILD_CHECK(dump_thread_running());
    return "";
  }));
  expect_passed(testing::run_in_child([]() -> std::string {
    defer_with_tables();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = offer_interrupted_point;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, nullptr);
    raise(SIGUSR1);
    CHILD_CHECK(g_offers.load() == 1);
    CHILD_CHECK(!dump_thread_running());
    CHILD_CHECK(dump_thread_deferred());
    pthread_t main_thread = pthread_self();
    std::thread sender([=] {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      for (int i = 0; i < 100 && !dump_thread_running(); ++i) {
        pthread_kill(main_thread, SIGUSR1);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    spin_until_started();
    sender.join();
    CHILD_CHECK(!dump_thread_deferred());
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 1; }));
    return "";
  }));
}

// A process that forked takes only the offers of work that cannot wait (a sample table
// filling up, a library the tables lack): each other one would make every later fork
// glibc's multi-threaded one. Its fork child (which has not forked) takes any offer.
TEST(DumpThread, AProcessThatForkedTakesOnlyTheOffersThatCannotWait) {
  if (dump_thread_running()) GTEST_SKIP() << "a dump thread already runs in this process";
  expect_passed(testing::run_in_child([]() -> std::string {
    start_fork_child_record();
    CHILD_CHECK(!has_forked());
    pid_t child = fork();
    if (child == 0) _exit(has_forked() ? 1 : 0);  // the child has not forked
    int status = 0;
    CHILD_CHECK(waitpid(child, &status, 0) == child);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHILD_CHECK(has_forked());
    defer_with_tables();
    offer_point_for_dump_thread(nullptr, /*needed=*/false);
    offer_point_for_dump_thread(nullptr, /*needed=*/false);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHILD_CHECK(!dump_thread_running());
    CHILD_CHECK(dump_thread_deferred());
    CHILD_CHECK(task_count() == 1);
    offer_point_for_dump_thread(nullptr, /*needed=*/true);
    CHILD_CHECK(dump_thread_running());
    CHILD_CHECK(wait_until([] { return g_checks.load() >= 1; }));
    return "";
  }));
}

}  // namespace profagent
