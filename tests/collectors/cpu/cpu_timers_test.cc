// Unit tests of the per-thread CPU-time timers (collectors/cpu/cpu_timers.h): one kernel timer
// per armed thread (counted in /proc/self/timers), none left behind by exiting threads,
// SIGPROF with the agent's cookie delivered to the armed thread itself, staggered first
// expiries, and a forked child that starts with no timers. SIGPROF is kept blocked on the
// threads under test and read with sigtimedwait, so no handler is involved; checks that arm
// other threads of the process run in a forked child.
#include "collectors/cpu/cpu_timers.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/sampling_signal.h"
#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

using testing::run_in_child;

pid_t gettid_now() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// POSIX timers of this process as the kernel lists them, all or those notifying thread `tid`.
int process_timers(pid_t tid = 0) {
  std::ifstream in("/proc/self/timers");
  std::string line;
  int n = 0;
  // "notify: signal/tid.<tid>" for a timer directed at thread <tid> (SIGEV_THREAD_ID).
  std::string wanted = "/tid." + std::to_string(tid);
  while (std::getline(in, line)) {
    bool match = tid == 0 ? line.rfind("ID:", 0) == 0
                          : line.rfind("notify:", 0) == 0 && line.size() >= wanted.size() &&
                                line.compare(line.size() - wanted.size(), wanted.size(), wanted) == 0;
    if (match) ++n;
  }
  return n;
}

// The clock of the timer notifying thread `tid` ("ClockID:" follows its "notify:" line), or 0.
long timer_clock_of(pid_t tid) {
  std::ifstream in("/proc/self/timers");
  std::string line;
  std::string wanted = "/tid." + std::to_string(tid);
  bool in_block = false;
  while (std::getline(in, line)) {
    if (line.rfind("notify:", 0) == 0)
      in_block = line.size() >= wanted.size() &&
                 line.compare(line.size() - wanted.size(), wanted.size(), wanted) == 0;
    if (in_block && line.rfind("ClockID:", 0) == 0) return std::stol(line.substr(8));
  }
  return 0;
}

class BlockedSigprof {
 public:
  BlockedSigprof() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockedSigprof() {
    drain();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  static void drain() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    timespec zero{};
    siginfo_t info;
    while (sigtimedwait(&set, &info, &zero) == SIGPROF) {
    }
  }

 private:
  sigset_t old_;
};

bool sigprof_pending_for_thread() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGPROF);
}

int64_t own_cpu_nanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST(CpuTimers, ArmingTheCallingThreadCreatesOneKernelTimerForItAndDisarmingDeletesIt) {
  CpuTimers timers;
  timers.set_period(1000000000LL * 3600);  // never fires during the test
  int before = process_timers();
  pid_t tid = gettid_now();
  ASSERT_TRUE(timers.arm_current_thread());
  EXPECT_TRUE(timers.arm_current_thread());  // idempotent: still one timer
  EXPECT_EQ(timers.live_timers(), 1);
  EXPECT_EQ(process_timers(), before + 1);
  EXPECT_EQ(process_timers(tid), 1);
  std::vector<CpuTimers::Armed> live = timers.live_threads();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].tid, tid);
  EXPECT_GE(live[0].armed_cpu, 0);
  EXPECT_LE(live[0].armed_cpu, own_cpu_nanos());
  timers.disarm_current_thread();
  timers.disarm_current_thread();  // nothing left to delete
  EXPECT_EQ(timers.live_timers(), 0);
  EXPECT_EQ(process_timers(), before);
  EXPECT_TRUE(timers.live_threads().empty());
}

TEST(CpuTimers, TheTimerSignalsTheArmedThreadWithTheAgentsCookieAsItBurnsCpu) {
  BlockedSigprof blocked;
  CpuTimers timers;
  timers.set_period(5000000);  // 5 ms of CPU
  ASSERT_TRUE(timers.arm_current_thread());
  int64_t start = own_cpu_nanos();
  volatile uint64_t sink = 0;
  // Thread-directed: it is pending for this thread (sigpending reports thread + process).
  while (!sigprof_pending_for_thread() && own_cpu_nanos() - start < 5000000000LL) sink = sink + 1;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  timespec zero{};
  siginfo_t info{};
  ASSERT_EQ(sigtimedwait(&set, &info, &zero), SIGPROF);
  timers.disarm_current_thread();
  EXPECT_EQ(info.si_code, SI_TIMER);
  EXPECT_EQ(info.si_value.sival_ptr, kTimerCookie);
  EXPECT_TRUE(is_agent_signal(&info));
  EXPECT_LT(own_cpu_nanos() - start, 5000000000LL);
}

// A thread that holds SIGPROF for the program has its timer stopped (no signal however much
// CPU it burns) and restarted after; the collector learns once that it was stopped. A thread
// without a timer reports that it has none.
TEST(CpuTimers, AHoldStopsTheThreadsTimerAndItsEndRestartsIt) {
  BlockedSigprof blocked;
  CpuTimers timers;
  timers.set_period(2000000);  // 2 ms of CPU
  EXPECT_FALSE(timers.hold_current_thread(true)) << "no timer yet";
  ASSERT_TRUE(timers.arm_current_thread());
  ASSERT_TRUE(timers.hold_current_thread(true));
  const CpuTimers::Armed armed = timers.live_threads().at(0);
  ASSERT_EQ(armed.tid, gettid_now());
  EXPECT_TRUE(timers.take_stopped_for_hold(armed));
  EXPECT_FALSE(timers.take_stopped_for_hold(armed)) << "told once";
  volatile uint64_t sink = 0;
  int64_t start = own_cpu_nanos();
  while (own_cpu_nanos() - start < 30000000LL) sink = sink + 1;  // 15 periods
  EXPECT_FALSE(sigprof_pending_for_thread()) << "stopped";
  ASSERT_TRUE(timers.hold_current_thread(false));
  start = own_cpu_nanos();
  while (!sigprof_pending_for_thread() && own_cpu_nanos() - start < 5000000000LL) sink = sink + 1;
  EXPECT_TRUE(sigprof_pending_for_thread()) << "running again";
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  timespec zero{};
  while (sigtimedwait(&set, nullptr, &zero) == SIGPROF) {
  }
  timers.disarm_current_thread();
}

TEST(CpuTimers, ManyThreadsArmingAndDisarmingLeaveNoTimerBehind) {
  BlockedSigprof blocked;  // inherited by the threads below
  CpuTimers timers;
  timers.set_period(1000000000LL * 3600);
  int before = process_timers();
  std::atomic<int> armed{0};
  for (int round = 0; round < 10; ++round) {
    std::vector<std::thread> threads;
    for (int i = 0; i < 30; ++i)
      threads.emplace_back([&] {
        if (timers.arm_current_thread()) armed.fetch_add(1);
        timers.disarm_current_thread();
      });
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(armed.load(), 300);
  EXPECT_EQ(timers.live_timers(), 0);
  EXPECT_EQ(process_timers(), before);
}

TEST(CpuTimers, TimersOfThreadsThatExitedWithoutDisarmingAreSwept) {
  BlockedSigprof blocked;
  CpuTimers timers;
  timers.set_period(1000000000LL * 3600);
  int before = process_timers();
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) threads.emplace_back([&] { timers.arm_current_thread(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(timers.live_timers(), 50);
  ASSERT_TRUE(timers.arm_current_thread());  // a live thread's timer survives the sweep
  timers.sweep_dead_threads();
  EXPECT_EQ(timers.live_timers(), 1);
  EXPECT_EQ(process_timers(), before + 1);
  EXPECT_EQ(process_timers(gettid_now()), 1);
  timers.disarm_all();
  EXPECT_EQ(timers.live_timers(), 0);
  EXPECT_EQ(process_timers(), before);
}

TEST(CpuTimers, FirstExpiriesAreStaggeredWithinOnePeriod) {
  BlockedSigprof blocked;
  CpuTimers timers;
  constexpr int64_t kPeriod = 100000000;  // 100 ms of CPU
  timers.set_period(kPeriod);
  std::vector<int64_t> first;
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(timers.arm_current_thread());
    int64_t armed = timers.live_threads().at(0).armed_cpu;
    volatile uint64_t sink = 0;
    while (!sigprof_pending_for_thread() && own_cpu_nanos() - armed < 20 * kPeriod) sink = sink + 1;
    first.push_back(own_cpu_nanos() - armed);
    timers.disarm_current_thread();
    BlockedSigprof::drain();
  }
  auto [lo, hi] = std::minmax_element(first.begin(), first.end());
  // Uniform in (0, period]: plus the kernel's tick granularity for CPU timers.
  EXPECT_LT(*hi, kPeriod + kPeriod / 2);
  // Not in lockstep: eight uniform draws spread over more than a tenth of the period.
  EXPECT_GT(*hi - *lo, kPeriod / 10) << "first expiries " << *lo << ".." << *hi;
}

TEST(CpuTimers, ThreadCpuNanosReadsALiveThreadAndReportsAGoneOne) {
  pid_t gone = 0;
  std::thread([&] { gone = gettid_now(); }).join();
  EXPECT_EQ(CpuTimers::thread_cpu_nanos(gone), -1);
  int64_t a = CpuTimers::thread_cpu_nanos(gettid_now());
  volatile uint64_t sink = 0;
  for (int i = 0; i < 2000000; ++i) sink = sink + 1;
  EXPECT_GT(a, 0);
  EXPECT_GT(CpuTimers::thread_cpu_nanos(gettid_now()), a);
}

TEST(CpuTimers, ExistingThreadsAreArmedOnTheirOwnCpuClockAndDisarmAllDeletesEveryTimer) {
  // Arms every thread of the process: done in a child, whose only threads are made here.
  auto result = run_in_child([]() -> std::string {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the workers inherit it
    std::atomic<bool> stop{false};
    std::atomic<int> started{0};
    std::vector<pid_t> tids(4);
    std::vector<std::thread> workers;
    std::atomic<int> got_cookie{0};
    for (int i = 0; i < 4; ++i)
      workers.emplace_back([&, i] {
        tids[i] = gettid_now();
        started.fetch_add(1);
        volatile uint64_t sink = 0;
        bool seen = false;
        while (!stop.load()) {
          sink = sink + 1;
          if (!seen && sigprof_pending_for_thread()) {
            siginfo_t info{};
            timespec zero{};
            if (sigtimedwait(&set, &info, &zero) == SIGPROF && info.si_code == SI_TIMER &&
                info.si_value.sival_ptr == kTimerCookie) {
              seen = true;
              got_cookie.fetch_add(1);
            }
          }
        }
      });
    while (started.load() < 4) std::this_thread::yield();
    auto checks = [&]() -> std::string {
    CpuTimers timers;
    timers.set_period(2000000);
    timers.arm_existing_threads();
    CHILD_CHECK(timers.live_timers() == 5);  // the workers and this thread
    CHILD_CHECK(process_timers() == 5);
    for (pid_t tid : tids) CHILD_CHECK(process_timers(tid) == 1);
    // Each on that worker's CPU clock, not on the arming thread's.
    for (pid_t tid : tids) CHILD_CHECK(timer_clock_of(tid) == static_cast<long>(thread_cpu_clock(tid)));
    CHILD_CHECK(timer_clock_of(gettid_now()) == static_cast<long>(CLOCK_THREAD_CPUTIME_ID) ||
                timer_clock_of(gettid_now()) == static_cast<long>(thread_cpu_clock(0)));
    std::vector<CpuTimers::Armed> live = timers.live_threads();
    for (pid_t tid : tids)
      CHILD_CHECK(std::any_of(live.begin(), live.end(), [&](auto& a) { return a.tid == tid; }));
    // Each worker's own timer signals that worker (its clock is its CPU time, not ours).
    timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      if (got_cookie.load() == 4 || now.tv_sec - start.tv_sec > 20) break;
      usleep(1000);
    }
    CHILD_CHECK(got_cookie.load() == 4);
    timers.disarm_all();
    CHILD_CHECK(timers.live_timers() == 0);
    CHILD_CHECK(process_timers() == 0);
    return "";
    };
    std::string failed = checks();
    stop.store(true);
    for (auto& w : workers) w.join();
    return failed;
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

TEST(CpuTimers, AForkedChildStartsWithoutTimersAndCanArmItsOwn) {
  CpuTimers timers;
  timers.set_period(1000000000LL * 3600);
  ASSERT_TRUE(timers.arm_current_thread());
  int parent_timers = process_timers();
  auto result = run_in_child([&]() -> std::string {
    CHILD_CHECK(process_timers() == 0);  // the kernel does not inherit timers
    timers.reset_after_fork(/*rearm=*/false, 0);
    CHILD_CHECK(timers.live_timers() == 0);
    CHILD_CHECK(timers.live_threads().empty());
    CHILD_CHECK(timers.arm_current_thread());  // not mistaken for the parent's armed thread
    CHILD_CHECK(timers.live_timers() == 1);
    CHILD_CHECK(process_timers(gettid_now()) == 1);
    timers.disarm_current_thread();
    CHILD_CHECK(process_timers() == 0);
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
  EXPECT_EQ(process_timers(), parent_timers);  // the parent's timer is untouched
  timers.disarm_current_thread();
  EXPECT_EQ(timers.live_timers(), 0);
}

// The fork child's own re-arming: raw system calls and no clock, yet a timer glibc's own
// timer functions (timer_delete here) take for theirs, on the child's thread, counted once.
TEST(CpuTimers, AForkChildsRearmedTimerIsItsThreadsAndGlibcCanDeleteIt) {
  CpuTimers timers;
  timers.set_period(1000000000LL * 3600);
  ASSERT_TRUE(timers.arm_current_thread());
  int parent_timers = process_timers();
  auto result = run_in_child([&]() -> std::string {
    CHILD_CHECK(process_timers() == 0);
    timers.reset_after_fork(/*rearm=*/true, 12345);
    CHILD_CHECK(timers.live_timers() == 1);
    CHILD_CHECK(process_timers(gettid_now()) == 1);
    CHILD_CHECK(timer_clock_of(gettid_now()) == static_cast<long>(CLOCK_THREAD_CPUTIME_ID) ||
                timer_clock_of(gettid_now()) == static_cast<long>(thread_cpu_clock(0)));
    auto live = timers.live_threads();
    CHILD_CHECK(live.size() == 1 && live[0].tid == gettid_now() && live[0].armed_cpu == 0);
    CHILD_CHECK(timers.arm_current_thread());  // already armed: no second timer
    CHILD_CHECK(process_timers() == 1);
    timers.disarm_current_thread();  // glibc's timer_delete on the raw timer's id
    CHILD_CHECK(process_timers() == 0);
    CHILD_CHECK(timers.live_timers() == 0);
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
  EXPECT_EQ(process_timers(), parent_timers);
  timers.disarm_current_thread();
}

}  // namespace
}  // namespace profagent
