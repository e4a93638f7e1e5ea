// Unit tests of the cumulative-to-delta conversion on hand-built Profile messages (heap-like:
// alloc_* cumulative, inuse_* a level).
#include "agent/push/profile_delta.h"
#include "collectors/heap_kind.h"

#include <gtest/gtest.h>

#include <map>

#include "agent/push/gunzip.h"
#include "agent/pprof/profile_builder.h"
#include "profile.pb.h"

namespace profagent {
namespace {

struct S {
  uint64_t address;    // one-frame stack
  const char* thread;  // thread_name label
  std::vector<int64_t> values;
};

// A heap-shaped profile; strings: 0 "", then types, then function and label strings.
std::string heap_profile(const std::vector<S>& samples, int64_t time_nanos) {
  pprof::Profile p;
  std::vector<std::string> strings = {"",      "alloc_objects", "count",       "alloc_space",
                                      "bytes", "inuse_objects", "inuse_space", "thread_name",
                                      "f",     "g"};
  for (const auto& s : strings) p.add_string_table(s);
  int64_t types[4][2] = {{1, 2}, {3, 4}, {5, 2}, {6, 4}};
  for (auto& t : types) {
    auto* vt = p.add_sample_type();
    vt->set_type(t[0]);
    vt->set_unit(t[1]);
  }
  std::map<uint64_t, uint64_t> location_of;
  for (const S& s : samples) {
    if (!location_of.count(s.address)) {
      uint64_t id = location_of.size() + 1;
      location_of[s.address] = id;
      auto* f = p.add_function();
      f->set_id(id);
      f->set_name(s.address == 0x1000 ? 8 : 9);
      auto* l = p.add_location();
      l->set_id(id);
      l->set_address(s.address);
      l->add_line()->set_function_id(id);
    }
    auto* sample = p.add_sample();
    sample->add_location_id(location_of[s.address]);
    for (int64_t v : s.values) sample->add_value(v);
    auto* label = sample->add_label();
    label->set_key(7);
    int index = p.string_table_size();
    p.add_string_table(s.thread);
    label->set_str(index);
  }
  p.set_time_nanos(time_nanos);
  return p.SerializeAsString();
}

std::map<std::string, std::vector<int64_t>> by_stack(const std::string& encoded) {
  pprof::Profile p;
  EXPECT_TRUE(p.ParseFromString(encoded));
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& s : p.sample()) {
    std::string key = std::to_string(p.location(static_cast<int>(s.location_id(0)) - 1).address()) +
                      "/" + p.string_table(static_cast<int>(s.label(0).str()));
    out[key] = std::vector<int64_t>(s.value().begin(), s.value().end());
  }
  return out;
}

TEST(ProfileDelta, FirstProfileIsTheWindowSinceStart) {
  std::string p1 = heap_profile({{0x1000, "main", {2, 200, 1, 100}}}, 5000);
  auto d = cumulative_delta(kHeapKind, p1, CumulativeBaseline{}, 1000, 5000);
  ASSERT_TRUE(d);
  auto got = by_stack(d->encoded);
  EXPECT_EQ(got["4096/main"], (std::vector<int64_t>{2, 200, 1, 100}));
  pprof::Profile p;
  ASSERT_TRUE(p.ParseFromString(d->encoded));
  EXPECT_EQ(p.duration_nanos(), 4000);
  EXPECT_EQ(p.time_nanos(), 5000);
  EXPECT_EQ(d->current.time_unix_nanos, 5000);
}

TEST(ProfileDelta, CumulativeValuesBecomeDeltasInuseStaysALevel) {
  std::string p1 = heap_profile({{0x1000, "main", {2, 200, 1, 100}},
                                 {0x2000, "main", {5, 500, 5, 500}}}, 5000);
  auto d1 = cumulative_delta(kHeapKind, p1, CumulativeBaseline{}, 1000, 5000);
  ASSERT_TRUE(d1);
  std::string p2 = heap_profile({{0x1000, "main", {7, 700, 2, 200}},    // grew
                                 {0x2000, "main", {5, 500, 3, 300}},    // no new allocations
                                 {0x1000, "worker", {1, 64, 0, 0}}},    // new thread label
                                9000);
  auto d2 = cumulative_delta(kHeapKind, p2, d1->current, 1000, 9000);
  ASSERT_TRUE(d2);
  auto got = by_stack(d2->encoded);
  EXPECT_EQ(got["4096/main"], (std::vector<int64_t>{5, 500, 2, 200}));
  EXPECT_EQ(got["8192/main"], (std::vector<int64_t>{0, 0, 3, 300}));  // inuse kept
  EXPECT_EQ(got["4096/worker"], (std::vector<int64_t>{1, 64, 0, 0}));
  pprof::Profile p;
  ASSERT_TRUE(p.ParseFromString(d2->encoded));
  EXPECT_EQ(p.duration_nanos(), 4000);  // from the baseline's time
}

TEST(ProfileDelta, SamplesThatDidNotChangeAreDropped) {
  std::string p1 = heap_profile({{0x1000, "main", {2, 200, 0, 0}}}, 5000);
  auto d1 = cumulative_delta(kHeapKind, p1, CumulativeBaseline{}, 1000, 5000);
  auto d2 = cumulative_delta(kHeapKind, p1, d1->current, 1000, 6000);
  ASSERT_TRUE(d2);
  EXPECT_TRUE(by_stack(d2->encoded).empty());
}

TEST(ProfileDelta, SumOfDeltasEqualsTheLastCumulative) {
  CumulativeBaseline base;
  int64_t sum = 0;
  for (int i = 1; i <= 20; ++i) {
    std::string p = heap_profile({{0x1000, "main", {i * 3, i * 300, 1, 100}},
                                  {0x2000, "main", {i, i * 50, 0, 0}}}, i * 1000);
    auto d = cumulative_delta(kHeapKind, p, base, 0, i * 1000);
    ASSERT_TRUE(d);
    for (auto& [k, v] : by_stack(d->encoded)) sum += v[1];
    base = d->current;
  }
  EXPECT_EQ(sum, 20 * 300 + 20 * 50);
}

TEST(ProfileDelta, ACounterThatWentDownCountsFromZero) {
  std::string p1 = heap_profile({{0x1000, "main", {10, 1000, 0, 0}}}, 5000);
  auto d1 = cumulative_delta(kHeapKind, p1, CumulativeBaseline{}, 0, 5000);
  std::string p2 = heap_profile({{0x1000, "main", {3, 300, 0, 0}}}, 6000);
  auto d2 = cumulative_delta(kHeapKind, p2, d1->current, 0, 6000);
  EXPECT_EQ(by_stack(d2->encoded)["4096/main"], (std::vector<int64_t>{3, 300, 0, 0}));
}

TEST(ProfileDelta, GarbageIsRefused) {
  EXPECT_FALSE(cumulative_delta(kHeapKind, "\xff\xff\xff garbage", CumulativeBaseline{}, 0, 1));
}

TEST(Gunzip, RoundTripsGzipCompress) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += static_cast<char>(i * 7);
  std::string out;
  ASSERT_TRUE(gunzip(gzip_compress(data, 1), &out));
  EXPECT_EQ(out, data);
  // Two members read as one stream, as pprof does.
  ASSERT_TRUE(gunzip(gzip_compress("ab", 1) + gzip_compress("cd", 1), &out));
  EXPECT_EQ(out, "abcd");
  EXPECT_FALSE(gunzip("not gzip", &out));
  EXPECT_FALSE(gunzip(gzip_compress(data, 1), &out, 1000));  // over the bound
}

}  // namespace
}  // namespace profagent
