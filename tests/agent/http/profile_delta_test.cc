// Unit tests of the ?seconds=N delta of cumulative profiles: matching across id spaces,
// inuse_* kept as a state, zero samples dropped, mismatched types refused.
#include "agent/http/profile_delta.h"

#include <gtest/gtest.h>

#include "tests/agent/http/profile_fixture.h"

namespace profagent {
namespace {

using testing::ProfileFixture;

std::vector<std::pair<std::string, std::string>> heap_types() {
  return {{"alloc_objects", "count"}, {"alloc_space", "bytes"},
          {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
}

// Sum of value[i] over samples whose leaf function is `leaf`.
int64_t value_at(const pprof::Profile& p, const std::string& leaf, int i) {
  int64_t sum = 0;
  for (const auto& s : p.sample()) {
    for (const auto& loc : p.location()) {
      if (loc.id() != s.location_id(0)) continue;
      for (const auto& f : p.function())
        if (f.id() == loc.line(0).function_id() && p.string_table(f.name()) == leaf)
          sum += s.value(i);
    }
  }
  return sum;
}

TEST(HttpDelta, SubtractsCountersKeepsInuseAndDropsZeros) {
  ProfileFixture before(heap_types());
  before.p.set_time_nanos(1000);
  uint64_t a = before.location(0x1010, "grow");
  uint64_t m = before.location(0x2020, "main");
  uint64_t b = before.location(0x3030, "steady");
  before.num_label(before.sample({a, m}, {10, 1000, 5, 500}), "bytes", 100);
  before.num_label(before.sample({b, m}, {4, 400, 4, 400}), "bytes", 100);

  ProfileFixture after(heap_types());
  after.id_base = 100;  // another encoding: different ids, different string order
  after.str("padding");
  after.p.set_time_nanos(3000);
  uint64_t m2 = after.location(0x2020, "main");
  uint64_t b2 = after.location(0x3030, "steady");
  uint64_t a2 = after.location(0x1010, "grow");
  uint64_t n2 = after.location(0x4040, "fresh");
  after.num_label(after.sample({a2, m2}, {25, 2500, 7, 700}), "bytes", 100);
  after.num_label(after.sample({b2, m2}, {4, 400, 0, 0}), "bytes", 100);   // all freed
  after.num_label(after.sample({n2, m2}, {3, 96, 3, 96}), "bytes", 32);

  pprof::Profile delta;
  ASSERT_TRUE(subtract_profiles(before.p, after.p, &delta));
  EXPECT_EQ(delta.sample_size(), 2);  // "steady": 0 new allocations, 0 in use -> dropped
  EXPECT_EQ(value_at(delta, "grow", 0), 15);
  EXPECT_EQ(value_at(delta, "grow", 1), 1500);
  EXPECT_EQ(value_at(delta, "grow", 2), 7);    // inuse: the later state, not a difference
  EXPECT_EQ(value_at(delta, "grow", 3), 700);
  EXPECT_EQ(value_at(delta, "fresh", 1), 96);
  EXPECT_EQ(value_at(delta, "steady", 0), 0);
  EXPECT_EQ(delta.time_nanos(), 1000);
  EXPECT_EQ(delta.duration_nanos(), 2000);
}

TEST(HttpDelta, LabelsSeparateSamples) {
  ProfileFixture before({{"contentions", "count"}, {"delay", "nanoseconds"}});
  uint64_t l = before.location(0x10, "lock_it");
  before.str_label(before.sample({l}, {5, 50}), "thread_name", "a");
  ProfileFixture after({{"contentions", "count"}, {"delay", "nanoseconds"}});
  uint64_t l2 = after.location(0x10, "lock_it");
  after.str_label(after.sample({l2}, {8, 80}), "thread_name", "a");
  after.str_label(after.sample({l2}, {2, 20}), "thread_name", "b");
  pprof::Profile delta;
  ASSERT_TRUE(subtract_profiles(before.p, after.p, &delta));
  ASSERT_EQ(delta.sample_size(), 2);
  EXPECT_EQ(delta.sample(0).value(0), 3);
  EXPECT_EQ(delta.sample(0).value(1), 30);
  EXPECT_EQ(delta.sample(1).value(0), 2);  // only in `after`: taken whole
}

TEST(HttpDelta, SameFunctionAtAnotherAddressIsAnotherStack) {
  ProfileFixture before({{"contentions", "count"}});
  before.sample({before.location(0x10, "f")}, {5});
  ProfileFixture after({{"contentions", "count"}});
  after.sample({after.location(0x11, "f")}, {5});
  pprof::Profile delta;
  ASSERT_TRUE(subtract_profiles(before.p, after.p, &delta));
  ASSERT_EQ(delta.sample_size(), 1);
  EXPECT_EQ(delta.sample(0).value(0), 5);
}

TEST(HttpDelta, MismatchedSampleTypesAreRefused) {
  ProfileFixture before({{"contentions", "count"}, {"delay", "nanoseconds"}});
  ProfileFixture after(heap_types());
  pprof::Profile delta;
  EXPECT_FALSE(subtract_profiles(before.p, after.p, &delta));
  ProfileFixture renamed({{"contentions", "count"}, {"wait", "nanoseconds"}});
  EXPECT_FALSE(subtract_profiles(before.p, renamed.p, &delta));
}

}  // namespace
}  // namespace profagent
