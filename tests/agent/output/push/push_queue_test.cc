// Unit tests of the push queue bounds (drop oldest, counted) and the retry policy.
#include "agent/output/push/push_queue.h"
#include "collectors/registry.h"

#include <gtest/gtest.h>

namespace profagent {
namespace {

PushItem item(const std::string& kind, size_t bytes, int64_t until) {
  PushItem i;
  i.kind = find_kind(kind);
  i.gzipped = std::string(bytes, 'x');
  i.until_unix_nanos = until;
  return i;
}

TEST(PushQueue, FifoWithinBounds) {
  PushQueue q(4, 1000);
  EXPECT_EQ(q.push(item("cpu", 10, 1)), 0u);
  EXPECT_EQ(q.push(item("heap", 20, 2)), 0u);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), 30u);
  EXPECT_EQ(q.pop()->until_unix_nanos, 1);
  EXPECT_EQ(q.pop()->until_unix_nanos, 2);
  EXPECT_FALSE(q.pop().has_value());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(PushQueue, DropsOldestOverTheItemBound) {
  PushQueue q(3, 1 << 20);
  for (int i = 1; i <= 10; ++i) q.push(item("cpu", 1, i));
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 7u);
  EXPECT_EQ(q.pop()->until_unix_nanos, 8);
  EXPECT_EQ(q.pop()->until_unix_nanos, 9);
  EXPECT_EQ(q.pop()->until_unix_nanos, 10);
}

TEST(PushQueue, DropsOldestOverTheByteBound) {
  PushQueue q(100, 100);
  q.push(item("cpu", 40, 1));
  q.push(item("cpu", 40, 2));
  EXPECT_EQ(q.push(item("cpu", 40, 3)), 1u);
  EXPECT_EQ(q.bytes(), 80u);
  EXPECT_EQ(q.pop()->until_unix_nanos, 2);
}

TEST(PushQueue, KeepsTheNewestEvenIfAloneItIsTooBig) {
  PushQueue q(4, 100);
  q.push(item("cpu", 10, 1));
  EXPECT_EQ(q.push(item("heap", 500, 2)), 1u);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_STREQ(q.pop()->kind->name, "heap");
}

TEST(PushQueue, MemoryStaysBoundedUnderManyPushes) {
  PushQueue q(32, 16 << 10);
  for (int i = 0; i < 100000; ++i) q.push(item("cpu", 1000, i));
  EXPECT_LE(q.size(), 32u);
  EXPECT_LE(q.bytes(), 16u << 10);
  EXPECT_EQ(q.dropped() + q.size(), 100000u);
}

TEST(RetryPolicy, WhatIsRetried) {
  EXPECT_TRUE(RetryPolicy::retryable(0));    // refused, reset, timeout
  EXPECT_TRUE(RetryPolicy::retryable(500));
  EXPECT_TRUE(RetryPolicy::retryable(503));
  EXPECT_TRUE(RetryPolicy::retryable(429));
  EXPECT_TRUE(RetryPolicy::retryable(408));
  EXPECT_FALSE(RetryPolicy::retryable(400));
  EXPECT_FALSE(RetryPolicy::retryable(401));
  EXPECT_FALSE(RetryPolicy::retryable(404));
  EXPECT_FALSE(RetryPolicy::retryable(413));
  EXPECT_TRUE(RetryPolicy::success(200));
  EXPECT_TRUE(RetryPolicy::success(204));
  EXPECT_FALSE(RetryPolicy::success(0));
  EXPECT_FALSE(RetryPolicy::success(302));
}

TEST(RetryPolicy, BoundedExponentialBackoff) {
  RetryPolicy p;
  p.max_attempts = 5;
  p.first_backoff_nanos = 100;
  p.max_backoff_nanos = 300;
  EXPECT_EQ(p.backoff_nanos(1), 100);
  EXPECT_EQ(p.backoff_nanos(2), 200);
  EXPECT_EQ(p.backoff_nanos(3), 300);  // capped
  EXPECT_EQ(p.backoff_nanos(4), 300);
  EXPECT_EQ(p.backoff_nanos(5), 0);    // the 5th attempt was the last
  EXPECT_EQ(p.backoff_nanos(0), 0);
}

TEST(RetryPolicy, DefaultGivesUpAfterThreeAttemptsWithinSeconds) {
  RetryPolicy p;
  int64_t total = 0;
  int attempts = 1;
  while (int64_t w = p.backoff_nanos(attempts)) {
    total += w;
    ++attempts;
  }
  EXPECT_EQ(attempts, 3);
  EXPECT_LE(total, 2000000000);
}

}  // namespace
}  // namespace profagent
