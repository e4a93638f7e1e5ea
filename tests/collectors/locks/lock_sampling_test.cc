// The block and mutex sampling rules (collectors/locks/lock_sampling.h): exact cases, and the
// unbiasedness of the weighting over many simulated events.
#include "collectors/locks/lock_sampling.h"

#include <gtest/gtest.h>

#include <random>

namespace profagent {
namespace {

TEST(BlockEventWeight, OffRecordsNothing) {
  EXPECT_FALSE(block_event_weight(1000, 0, 0).record);
  EXPECT_FALSE(block_event_weight(1000, -5, 0).record);
}

TEST(BlockEventWeight, EventsAtLeastTheRateAreAlwaysRecordedAsThemselves) {
  for (uint64_t r : {0ull, 1ull, 999ull, ~0ull}) {
    ContentionWeight w = block_event_weight(5000, 1000, r);
    EXPECT_TRUE(w.record);
    EXPECT_DOUBLE_EQ(w.count, 1.0);
    EXPECT_EQ(w.delay, 5000);
  }
  ContentionWeight w = block_event_weight(1000, 1000, 12345);
  EXPECT_TRUE(w.record);
  EXPECT_EQ(w.delay, 1000);
}

TEST(BlockEventWeight, RateOneRecordsEveryEvent) {
  for (int64_t d : {0, 1, 7, 1000000}) {
    ContentionWeight w = block_event_weight(d, 1, 987654321);
    EXPECT_TRUE(w.record);
    EXPECT_DOUBLE_EQ(w.count, 1.0);
    EXPECT_EQ(w.delay, d < 1 ? 1 : d);
  }
}

TEST(BlockEventWeight, ShortEventsKeptWithProbabilityDOverRateAndScaled) {
  // Go: kept unless random % rate > d; then count += rate/d, delay += rate.
  ContentionWeight kept = block_event_weight(250, 1000, 250);  // 250 % 1000 = 250 <= 250
  EXPECT_TRUE(kept.record);
  EXPECT_DOUBLE_EQ(kept.count, 4.0);
  EXPECT_EQ(kept.delay, 1000);
  EXPECT_FALSE(block_event_weight(250, 1000, 251).record);
  EXPECT_FALSE(block_event_weight(250, 1000, 1999).record);  // 999 > 250
  EXPECT_TRUE(block_event_weight(250, 1000, 2000).record);   // 0 <= 250
}

TEST(BlockEventWeight, UnbiasedOverManyEvents) {
  std::mt19937_64 rng(42);
  const int64_t rate = 10000;
  std::uniform_int_distribution<int64_t> delay(1, 3 * rate);  // a third above the rate
  const int n = 400000;
  double true_delay = 0, count = 0, recorded_delay = 0;
  int recorded = 0;
  for (int i = 0; i < n; ++i) {
    int64_t d = delay(rng);
    true_delay += static_cast<double>(d);
    ContentionWeight w = block_event_weight(d, rate, rng());
    if (!w.record) continue;
    ++recorded;
    count += w.count;
    recorded_delay += static_cast<double>(w.delay);
  }
  EXPECT_LT(recorded, n);  // it did sample
  EXPECT_NEAR(count / n, 1.0, 0.03);
  EXPECT_NEAR(recorded_delay / true_delay, 1.0, 0.02);
}

TEST(BlockEventWeight, UnbiasedForEventsAllFarBelowTheRate) {
  std::mt19937_64 rng(7);
  const int64_t rate = 1000000;
  const int n = 2000000;
  double true_delay = 0, count = 0, recorded_delay = 0;
  for (int i = 0; i < n; ++i) {
    int64_t d = 1000 + static_cast<int64_t>(rng() % 9000);  // 1-10 us against a 1 ms rate
    true_delay += static_cast<double>(d);
    ContentionWeight w = block_event_weight(d, rate, rng());
    if (!w.record) continue;
    count += w.count;
    recorded_delay += static_cast<double>(w.delay);
  }
  EXPECT_NEAR(count / n, 1.0, 0.1);
  EXPECT_NEAR(recorded_delay / true_delay, 1.0, 0.1);
}

TEST(MutexEventWeight, FractionOneKeepsEveryEventUnscaled) {
  ContentionWeight w = mutex_event_weight(12345, 1, 77);
  EXPECT_TRUE(w.record);
  EXPECT_DOUBLE_EQ(w.count, 1.0);
  EXPECT_EQ(w.delay, 12345);
  EXPECT_FALSE(mutex_event_weight(12345, 0, 0).record);
  EXPECT_EQ(mutex_event_weight(-5, 1, 0).delay, 0);
}

TEST(MutexEventWeight, KeptOneInNAndScaledByN) {
  ContentionWeight kept = mutex_event_weight(100, 5, 10);  // 10 % 5 == 0
  EXPECT_TRUE(kept.record);
  EXPECT_DOUBLE_EQ(kept.count, 5.0);
  EXPECT_EQ(kept.delay, 500);
  EXPECT_FALSE(mutex_event_weight(100, 5, 11).record);
}

TEST(MutexEventWeight, UnbiasedOverManyEvents) {
  std::mt19937_64 rng(3);
  const int64_t fraction = 7;
  const int n = 300000;
  double true_delay = 0, count = 0, recorded_delay = 0;
  for (int i = 0; i < n; ++i) {
    int64_t d = static_cast<int64_t>(rng() % 100000);
    true_delay += static_cast<double>(d);
    ContentionWeight w = mutex_event_weight(d, fraction, rng());
    if (!w.record) continue;
    count += w.count;
    recorded_delay += static_cast<double>(w.delay);
  }
  EXPECT_NEAR(count / n, 1.0, 0.03);
  EXPECT_NEAR(recorded_delay / true_delay, 1.0, 0.03);
}

TEST(LockRandom, DiffersBetweenCallsAndAfterReset) {
  uint64_t a = lock_random(), b = lock_random();
  EXPECT_NE(a, b);
  reset_lock_random();
  EXPECT_NE(lock_random(), 0u);
}

}  // namespace
}  // namespace profagent
