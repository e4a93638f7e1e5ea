// Unit tests of the lock and wait hooks' slow paths (lock_profiler.h): what a contended lock,
// a blocking wait and an unlock that charges waiters record into the block and mutex
// tables, at the caller's stack and thread, with errno preserved and nothing recorded while
// a side is off.
#include "collectors/locks/lock_profiler.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "agent/core/clock.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwind_tables.h"

namespace profagent {
namespace {

struct Totals {
  double count = 0;
  int64_t delay = 0;
  size_t buckets = 0;
  bool this_thread = true;
};

Totals totals(const ContentionTable& table) {
  Totals t;
  for (const ContentionBucketCopy& b : table.copy()) {
    t.count += b.count;
    t.delay += b.delay;
    ++t.buckets;
    t.this_thread = t.this_thread && b.tid == static_cast<int32_t>(current_tid()) &&
                    !b.stack.empty();
  }
  return t;
}

class LockProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A recorded event walks its stack: the tables the agent's dump thread builds after start
    // (run alone, no earlier test of this binary has built them).
    unwind_tables_refresh();
    ASSERT_TRUE(g_block_table.init());
    ASSERT_TRUE(g_mutex_table.init());
    g_block_table.clear();
    g_mutex_table.clear();
    g_lock_waits.clear();
  }
  void TearDown() override {
    g_block_rate.store(0);
    g_mutex_fraction.store(0);
    g_block_table.clear();
    g_mutex_table.clear();
    g_lock_waits.clear();
  }
};

TEST_F(LockProfilerTest, BlockingWaitIsRecordedAtTheCallerWithItsDelay) {
  g_block_rate.store(1);  // every event, unscaled
  ASSERT_TRUE(block_profiling_on());
  errno = 1234;
  record_block_wait(1000, 6000);
  EXPECT_EQ(errno, 1234);
  Totals t = totals(g_block_table);
  EXPECT_EQ(t.buckets, 1u);
  EXPECT_EQ(t.count, 1.0);
  EXPECT_EQ(t.delay, 5000);
  EXPECT_TRUE(t.this_thread);
  EXPECT_EQ(totals(g_mutex_table).buckets, 0u);  // the mutex side is off
}

TEST_F(LockProfilerTest, NothingIsRecordedWhileBothSidesAreOff) {
  EXPECT_FALSE(lock_profiling_on());
  record_block_wait(0, 1000000);
  LockWait wait;
  int lock = 0;
  lock_wait_begin(&wait, &lock);
  lock_wait_end(wait, true);
  unlock_finish(unlock_charge(&lock));
  EXPECT_EQ(totals(g_block_table).buckets, 0u);
  EXPECT_EQ(totals(g_mutex_table).buckets, 0u);
}

TEST_F(LockProfilerTest, ContendedLockIsABlockEventOnlyWhenItWaited) {
  g_block_rate.store(1);
  int lock = 0;
  LockWait wait;
  lock_wait_begin(&wait, &lock);
  lock_wait_end(wait, /*waited=*/false);  // failed at once (EBUSY, EDEADLK): no event
  EXPECT_EQ(totals(g_block_table).buckets, 0u);
  lock_wait_begin(&wait, &lock);
  int64_t before = monotonic_nanos();
  while (monotonic_nanos() - before < 200000) {
  }
  lock_wait_end(wait, /*waited=*/true);
  Totals t = totals(g_block_table);
  EXPECT_EQ(t.count, 1.0);
  EXPECT_GE(t.delay, 200000);
}

TEST_F(LockProfilerTest, UnlockChargesTheWaitersDelayToTheUnlocker) {
  g_mutex_fraction.store(1);  // every contention
  int lock = 0;
  LockWait wait;
  lock_wait_begin(&wait, &lock);  // a waiter arrives on `lock`
  int64_t before = monotonic_nanos();
  while (monotonic_nanos() - before < 300000) {
  }
  errno = 77;
  UnlockCharge charge = unlock_charge(&lock);  // the holder unlocks
  EXPECT_EQ(charge.waiters, 1);
  EXPECT_GE(charge.delay, 300000);
  unlock_finish(charge);
  EXPECT_EQ(errno, 77);
  lock_wait_end(wait, true);  // the waiter departs (block side off: no block event)
  Totals t = totals(g_mutex_table);
  EXPECT_EQ(t.buckets, 1u);
  EXPECT_EQ(t.count, 1.0);
  EXPECT_EQ(t.delay, charge.delay);
  EXPECT_TRUE(t.this_thread);
  EXPECT_EQ(totals(g_block_table).buckets, 0u);

  // A second unlock with nobody waiting any more charges nothing.
  UnlockCharge none = unlock_charge(&lock);
  EXPECT_EQ(none.waiters, 0);
  unlock_finish(none);
  EXPECT_EQ(totals(g_mutex_table).count, 1.0);
}

// An unlock's fast path asks the waiter table only while the mutex profile runs: with it off
// (the defaults) no unlock reads the table's page, one of its own that every process's first
// unlock faulted in. A waiter tracked before the profile stopped is left to depart.
TEST_F(LockProfilerTest, UnlockLooksAtWaitersOnlyWhileTheMutexProfileRuns) {
  int lock = 0;
  EXPECT_FALSE(unlock_may_charge());
  g_mutex_fraction.store(1);
  LockWait wait;
  lock_wait_begin(&wait, &lock);
  EXPECT_TRUE(unlock_may_charge());
  g_mutex_fraction.store(0);  // the profile stops with a waiter tracked
  EXPECT_TRUE(g_lock_waits.any_waiters());
  EXPECT_FALSE(unlock_may_charge());
  lock_wait_end(wait, false);
  EXPECT_FALSE(g_lock_waits.any_waiters());
}

TEST_F(LockProfilerTest, UnlockOfAnotherLockChargesNothing) {
  g_mutex_fraction.store(1);
  int a = 0, b = 0;
  LockWait wait;
  lock_wait_begin(&wait, &a);
  UnlockCharge charge = unlock_charge(&b);
  EXPECT_EQ(charge.waiters, 0);
  unlock_finish(charge);
  lock_wait_end(wait, true);
  EXPECT_EQ(totals(g_mutex_table).buckets, 0u);
}

}  // namespace
}  // namespace profagent
