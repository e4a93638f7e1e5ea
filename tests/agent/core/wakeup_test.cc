// Unit tests of the dump thread's wake-up word (agent/core/wakeup.h): every wake bumps the
// count, a tick request wakes once until cleared, a sleeper returns on a wake from another
// thread, at its deadline, or at once when the count already moved, and a forked child
// starts with no request of the parent. The dump thread itself is not running in unit tests.
#include "agent/core/wakeup.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

int64_t monotonic_now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST(Wakeup, EveryWakeBumpsTheCountAndKeepsErrno) {
  uint32_t before = wakeup_count();
  errno = EAGAIN;
  wake_dump_thread();
  EXPECT_EQ(errno, EAGAIN);
  wake_dump_thread();
  EXPECT_EQ(wakeup_count(), before + 2);
}

TEST(Wakeup, ATickRequestWakesOnceUntilCleared) {
  clear_tick_request();
  EXPECT_FALSE(tick_requested());
  uint32_t before = wakeup_count();
  request_collector_tick();
  EXPECT_TRUE(tick_requested());
  EXPECT_EQ(wakeup_count(), before + 1);
  request_collector_tick();  // already asked: no second wake
  request_collector_tick();
  EXPECT_EQ(wakeup_count(), before + 1);
  EXPECT_TRUE(tick_requested());
  clear_tick_request();
  EXPECT_FALSE(tick_requested());
  request_collector_tick();  // asked again after the tick: wakes again
  EXPECT_EQ(wakeup_count(), before + 2);
  clear_tick_request();
}

TEST(Wakeup, ARequestDoesNotWakeTheDumpThreadWhileItExpectsOne) {
  clear_tick_request();
  expect_tick_requests(true);  // the dump thread will look by itself
  uint32_t before = wakeup_count();
  request_collector_tick();
  EXPECT_TRUE(tick_requested());
  EXPECT_EQ(wakeup_count(), before);  // no system call, no wake
  clear_tick_request();
  expect_tick_requests(false);  // it stopped looking: a request wakes it again
  request_collector_tick();
  EXPECT_EQ(wakeup_count(), before + 1);
  clear_tick_request();
}

TEST(Wakeup, ConcurrentTickRequestsWakeExactlyOnce) {
  clear_tick_request();
  uint32_t before = wakeup_count();
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      while (!go.load()) {
      }
      for (int j = 0; j < 1000; ++j) request_collector_tick();
    });
  go.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(wakeup_count(), before + 1);
  clear_tick_request();
}

TEST(Wakeup, ASleeperReturnsOnAWakeFromAnotherThreadLongBeforeItsDeadline) {
  uint32_t seen = wakeup_count();
  int64_t deadline = monotonic_now() + 60 * 1000000000LL;
  std::atomic<bool> returned{false};
  std::atomic<int64_t> returned_at{0};
  std::thread sleeper([&] {
    // A spurious return (EINTR) would not be a wake: sleep again while the count stands.
    while (wakeup_count() == seen && monotonic_now() < deadline) wait_for_wakeup(seen, deadline);
    returned_at.store(monotonic_now());
    returned.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(returned.load());  // it does sleep
  int64_t woken_at = monotonic_now();
  wake_dump_thread();
  sleeper.join();
  // Returned because of the wake, well before the deadline.
  EXPECT_LT(returned_at.load() - woken_at, (deadline - woken_at) / 4);
}

TEST(Wakeup, ASleeperReturnsAtItsDeadline) {
  uint32_t seen = wakeup_count();
  int64_t start = monotonic_now();
  int64_t deadline = start + 100 * 1000000LL;
  while (monotonic_now() < deadline && wakeup_count() == seen) wait_for_wakeup(seen, deadline);
  int64_t end = monotonic_now();
  EXPECT_EQ(wakeup_count(), seen);
  EXPECT_GE(end, deadline);
  EXPECT_LT(end - start, 50 * (deadline - start));  // not stuck far past it
}

TEST(Wakeup, ASleeperWhoseCountMovedReturnsAtOnce) {
  uint32_t seen = wakeup_count();
  wake_dump_thread();  // a wake between reading the count and sleeping is not lost
  int64_t start = monotonic_now();
  int64_t deadline = start + 30 * 1000000000LL;
  wait_for_wakeup(seen, deadline);
  EXPECT_LT(monotonic_now() - start, (deadline - start) / 4);
}

TEST(Wakeup, AForkedChildStartsWithNoRequestOfTheParent) {
  request_collector_tick();
  wake_dump_thread();
  ASSERT_TRUE(tick_requested());
  ASSERT_NE(wakeup_count(), 0u);
  auto result = testing::run_in_child([]() -> std::string {
    reset_wakeups_after_fork();
    CHILD_CHECK(!tick_requested());
    CHILD_CHECK(wakeup_count() == 0);
    request_collector_tick();  // the child's own requests work
    CHILD_CHECK(tick_requested());
    CHILD_CHECK(wakeup_count() == 1);
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
  EXPECT_TRUE(tick_requested());  // the parent's own request stands
  clear_tick_request();
}

}  // namespace
}  // namespace profagent
