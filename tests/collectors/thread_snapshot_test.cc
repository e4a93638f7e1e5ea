// The threads-profile capture protocol (collectors/thread_snapshot.h), in-process: every
// thread answers with a stack, a thread with SIGPROF blocked is reported as not answering
// within the time bound, and its late signal later finds nothing to write.
#include "collectors/thread_snapshot.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

#include "agent/clock.h"
#include "agent/sampling_signal.h"
#include "agent/threads/thread_registry.h"

namespace profagent {
namespace {

struct Parked {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> release{false};
  bool block_sigprof = false;
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
        timespec ts{0, 1000000};
        nanosleep(&ts, nullptr);
      }
    });
    while (tid.load() == 0) std::this_thread::yield();
  }
};

TEST(ThreadSnapshotter, EveryThreadAnswersAndABlockedOneIsBoundedInTime) {
  ASSERT_TRUE(g_thread_snapshotter.init());
  set_thread_snapshot_handler(&ThreadSnapshotter::handler);
  ASSERT_TRUE(install_sampling_signal());

  Parked threads[3];
  threads[2].block_sigprof = true;
  for (Parked& p : threads) p.start();
  std::vector<pid_t> tids = {current_tid(), threads[0].tid, threads[1].tid, threads[2].tid,
                             999999 /* no such thread */};
  int64_t t0 = monotonic_nanos();
  std::vector<CapturedThread> got = g_thread_snapshotter.capture(tids, 200 * 1000 * 1000);
  int64_t elapsed = monotonic_nanos() - t0;

  ASSERT_EQ(got.size(), 4u);  // the missing tid is left out
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i].tid, tids[i]);
    EXPECT_TRUE(got[i].answered) << i;
    EXPECT_GT(got[i].stack.size(), 1u) << i;
  }
  EXPECT_EQ(got[3].tid, threads[2].tid);
  EXPECT_FALSE(got[3].answered);
  EXPECT_TRUE(got[3].stack.empty());
  EXPECT_GE(elapsed, 200 * 1000 * 1000);      // waited for the blocked thread...
  EXPECT_LT(elapsed, 2000LL * 1000 * 1000);   // ...but only about as long as allowed

  // The blocked thread unblocks: its late signal is ignored, and the next capture works.
  threads[2].release = true;
  threads[2].thread.join();
  got = g_thread_snapshotter.capture({threads[0].tid, threads[1].tid}, 200 * 1000 * 1000);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].answered);
  EXPECT_TRUE(got[1].answered);
  for (int i = 0; i < 2; ++i) {
    threads[i].release = true;
    threads[i].thread.join();
  }
}

}  // namespace
}  // namespace profagent
