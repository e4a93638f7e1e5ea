// The threads-profile capture protocol (collectors/threads/thread_snapshot.h), in-process: sleeping
// threads are walked without a signal (even one with SIGPROF blocked), running threads answer
// the signal with a stack, a running thread with SIGPROF blocked is reported as not answering
// within the time bound, and its late signal later finds nothing to write.
#include "collectors/threads/thread_snapshot.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/core/clock.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/threads/thread_registry.h"
#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

// POSIX timers of this process (/proc/self/timers lists one "ID:" line per timer).
int live_timers() {
  FILE* f = fopen("/proc/self/timers", "re");
  if (f == nullptr) return -1;
  char line[256];
  int n = 0;
  while (fgets(line, sizeof line, f) != nullptr) n += strncmp(line, "ID:", 3) == 0;
  fclose(f);
  return n;
}

struct Parked {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> release{false};
  std::atomic<int> early_returns{0};
  bool block_sigprof = false;
  bool spin = false;  // run instead of sleeping
  std::thread thread;
  void start() {
    thread = std::thread([this] {
      if (block_sigprof) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGPROF);
        pthread_sigmask(SIG_BLOCK, &set, nullptr);
      }
      tid = current_tid();
      while (!release.load()) {
        if (spin) continue;
        timespec ts{0, 50 * 1000 * 1000};  // long sleeps: caught running only rarely
        if (nanosleep(&ts, nullptr) != 0) ++early_returns;
      }
    });
    while (tid.load() == 0) std::this_thread::yield();
  }
};

// The slots are mapped by the first capture, not at the collector's start: most processes of
// a shell script end without one (an mmap and a mapping fewer each). In a child: a second
// snapshotter publishes its slots to the process's handler.
TEST(ThreadSnapshotter, ItsSlotsAreMappedByItsFirstCapture) {
  testing::ChildResult r = testing::run_in_child([]() -> std::string {
    ThreadSnapshotter fresh;
    CHILD_CHECK(fresh.max_threads() == 0);
    std::vector<CapturedThread> none = fresh.capture({}, 1000000);
    CHILD_CHECK(none.empty());
    CHILD_CHECK(fresh.max_threads() == ThreadSnapshotter::kDefaultMaxThreads);
    return "";
  });
  EXPECT_TRUE(r.passed()) << r.message;
}

TEST(ThreadSnapshotter, SleepersAreWalkedRunnersAnswerAndABlockedRunnerIsBoundedInTime) {
  ASSERT_TRUE(g_thread_snapshotter.init());
  set_thread_snapshot_handler(&ThreadSnapshotter::handler);
  ASSERT_TRUE(install_sampling_signal());

  Parked threads[4];
  threads[1].block_sigprof = true;  // sleeps with SIGPROF blocked: walked all the same
  threads[2].spin = true;           // runs: answers the signal
  threads[3].spin = true;           // runs with SIGPROF blocked: cannot answer
  threads[3].block_sigprof = true;
  for (Parked& p : threads) p.start();
  std::vector<pid_t> tids = {threads[0].tid, threads[1].tid, threads[2].tid, threads[3].tid,
                             999999 /* no such thread */};
  const int timers_before = live_timers();
  int64_t t0 = monotonic_nanos();
  std::vector<CapturedThread> got = g_thread_snapshotter.capture(tids, 200 * 1000 * 1000);
  int64_t elapsed = monotonic_nanos() - t0;
  EXPECT_EQ(live_timers(), timers_before);  // the one-shot request timers are all deleted

  ASSERT_EQ(got.size(), 4u);  // the missing tid is left out
  for (int i = 0; i < 4; ++i) EXPECT_EQ(got[i].tid, tids[i]);
  for (int i = 0; i < 2; ++i) {  // the sleepers (one may be caught between two sleeps)
    if (!got[i].blocked) continue;
    EXPECT_TRUE(got[i].answered) << i;
    EXPECT_FALSE(got[i].lost) << i;
    EXPECT_GT(got[i].stack.size(), 1u) << i;  // walked past the libc wrapper
    EXPECT_TRUE(got[i].syscall_nr == SYS_nanosleep || got[i].syscall_nr == SYS_clock_nanosleep)
        << got[i].syscall_nr;
  }
  EXPECT_TRUE(got[1].blocked && got[1].answered);  // asleep nearly all the time
  EXPECT_FALSE(got[2].blocked);
  EXPECT_TRUE(got[2].answered);
  EXPECT_GT(got[2].stack.size(), 1u);
  EXPECT_FALSE(got[3].blocked);
  EXPECT_FALSE(got[3].answered);
  EXPECT_TRUE(got[3].stack.empty());
  EXPECT_GE(elapsed, 200 * 1000 * 1000);      // waited for the blocked thread...
  EXPECT_LT(elapsed, 2000LL * 1000 * 1000);   // ...but only about as long as allowed

  // The blocked runner ends: its late signal is ignored, and the next capture works.
  threads[3].release = true;
  threads[3].thread.join();
  got = g_thread_snapshotter.capture({threads[0].tid, threads[2].tid}, 200 * 1000 * 1000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].answered);
  EXPECT_TRUE(got[1].answered);
  for (int i = 0; i < 3; ++i) {
    threads[i].release = true;
    threads[i].thread.join();
  }
  // No sleeper was woken early by a capture.
  EXPECT_EQ(threads[0].early_returns.load(), 0);
  EXPECT_EQ(threads[1].early_returns.load(), 0);
}

}  // namespace
}  // namespace profagent
