// The bounded contention aggregate (collectors/locks/contention_table.h).
#include "collectors/locks/contention_table.h"

#include <gtest/gtest.h>

#include <memory>

namespace profagent {
namespace {

TEST(ContentionTable, MergesEqualStackAndThreadNameKeepingASingleTid) {
  auto t = std::make_unique<ContentionTable>();
  ASSERT_TRUE(t->init(16));
  uintptr_t a[] = {0x10, 0x20, 0x30};
  uintptr_t b[] = {0x10, 0x20, 0x31};
  t->record(a, 3, 7, "worker", 1.0, 100);
  t->record(a, 3, 7, "worker", 2.5, 200);
  t->record(a, 3, 8, "other", 1.0, 50);
  t->record(b, 3, 7, "worker", 1.0, 10);
  t->record(b, 3, 9, "worker", 1.0, 10);  // another thread of the same name: same bucket
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 3u);
  EXPECT_EQ(copy[0].stack, std::vector<uintptr_t>({0x10, 0x20, 0x30}));
  EXPECT_EQ(copy[0].tid, 7);
  EXPECT_EQ(copy[0].thread_name, "worker");
  EXPECT_DOUBLE_EQ(copy[0].count, 3.5);
  EXPECT_EQ(copy[0].delay, 300);
  EXPECT_EQ(copy[1].tid, 8);
  EXPECT_EQ(copy[1].thread_name, "other");
  EXPECT_EQ(copy[2].stack.back(), 0x31u);
  EXPECT_EQ(copy[2].tid, kManyThreads);
  EXPECT_DOUBLE_EQ(copy[2].count, 2.0);
  for (const auto& c : copy) EXPECT_FALSE(c.overflow);
}

TEST(ContentionTable, ThreadChurnDoesNotFillTheTable) {
  auto t = std::make_unique<ContentionTable>();
  ASSERT_TRUE(t->init(4));
  uintptr_t a = 0x50;
  for (int32_t tid = 100; tid < 1100; ++tid) t->record(&a, 1, tid, "short_lived", 1.0, 1);
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_FALSE(copy[0].overflow);
  EXPECT_DOUBLE_EQ(copy[0].count, 1000.0);
  EXPECT_EQ(copy[0].tid, kManyThreads);
}

TEST(ContentionTable, FullTableGoesToTheOverflowBucket) {
  auto t = std::make_unique<ContentionTable>();
  ASSERT_TRUE(t->init(4));  // bucket 0 + 3 stacks
  for (uintptr_t i = 1; i <= 10; ++i) t->record(&i, 1, 1, "t", 1.0, 10);
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 4u);
  EXPECT_TRUE(copy[0].overflow);
  EXPECT_DOUBLE_EQ(copy[0].count, 7.0);
  EXPECT_EQ(copy[0].delay, 70);
  double total = 0;
  for (const auto& c : copy) total += c.count;
  EXPECT_DOUBLE_EQ(total, 10.0);
}

TEST(ContentionTable, DelaySaturatesAndClearEmpties) {
  auto t = std::make_unique<ContentionTable>();
  ASSERT_TRUE(t->init(8));
  uintptr_t a = 0x40;
  t->record(&a, 1, 1, "t", 1.0, INT64_MAX - 5);
  t->record(&a, 1, 1, "t", 1.0, 100);
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].delay, INT64_MAX);
  t->clear();
  EXPECT_TRUE(t->copy().empty());
  t->record(&a, 1, 1, "t", 1.0, 5);
  copy = t->copy();
  ASSERT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy[0].delay, 5);
}

}  // namespace
}  // namespace profagent
