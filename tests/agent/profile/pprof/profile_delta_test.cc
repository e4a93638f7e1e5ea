// Unit tests of the one profile delta (HTTP ?seconds=N and push): matching by stack
// addresses, synthetic frame names and labels; the accumulation rule taken from the shape;
// zero samples dropped; resets; the window's times; and a delta re-encoded from a
// SymbolizedProfile decoded by libprotobuf.
#include "agent/profile/pprof/profile_delta.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "agent/profile/pprof/symbolized_profile.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/locks/contention_profile.h"
#include "collectors/locks/contention_table.h"
#include "collectors/heap/heap_collector.h"
#include "profile.pb.h"

namespace profagent {
namespace {

using Stack = std::vector<uint64_t>;
using Values = std::vector<int64_t>;

ProfileShape heap_shape() {
  ProfileShape shape;
  shape.sample_types = {{"alloc_objects", "count", Accumulation::kCumulative},
                        {"alloc_space", "bytes", Accumulation::kCumulative},
                        {"inuse_objects", "count", Accumulation::kCurrent},
                        {"inuse_space", "bytes", Accumulation::kCurrent}};
  shape.period_type = {"space", "bytes"};
  shape.period = 1;
  return shape;
}

ProfileShape contention_shape() {
  ProfileShape shape;
  shape.sample_types = {{"contentions", "count", Accumulation::kCumulative},
                        {"delay", "nanoseconds", Accumulation::kCumulative}};
  shape.period_type = {"contentions", "count"};
  return shape;
}

Label thread(const std::string& name) { return ProfileBuilder::str_label("thread_name", name); }

// Values of the sample with this leaf address and thread (none: empty).
Values at(const ProfileBuilder& b, uint64_t leaf, const std::string& name = "") {
  for (const auto& [key, values] : b.samples()) {
    if (key.stack.empty() || key.stack[0] != leaf) continue;
    std::string got;
    for (const Label& l : key.labels)
      if (l.key == "thread_name") got = l.str;
    if (got == name) return values;
  }
  return {};
}

TEST(ProfileDelta, SubtractsCountersKeepsInuseAndDropsZeros) {
  ProfileBuilder before(heap_shape());
  before.set_time(1000);
  before.add_sample(Stack{0x1010, 0x2020}, Values{10, 1000, 5, 500});
  before.add_sample(Stack{0x3030, 0x2020}, Values{4, 400, 4, 400});
  ProfileBuilder after(heap_shape());
  after.set_time(3000);
  after.add_comment("after's comment");
  after.add_sample(Stack{0x4040, 0x2020}, Values{3, 96, 3, 96});   // new
  after.add_sample(Stack{0x1010, 0x2020}, Values{25, 2500, 7, 700});
  after.add_sample(Stack{0x3030, 0x2020}, Values{4, 400, 0, 0});   // all freed, none new

  std::optional<ProfileBuilder> d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sample_count(), 2u);
  EXPECT_EQ(at(*d, 0x1010), (Values{15, 1500, 7, 700}));  // inuse: the later state
  EXPECT_EQ(at(*d, 0x4040), (Values{3, 96, 3, 96}));      // only in after: whole
  EXPECT_EQ(at(*d, 0x3030), Values{});                    // all zero: dropped
  EXPECT_EQ(d->time_nanos(), 1000);
  EXPECT_EQ(d->duration_nanos(), 2000);
  EXPECT_EQ(d->comments(), std::vector<std::string>{"after's comment"});
}

TEST(ProfileDelta, LabelsSeparateSamples) {
  ProfileBuilder before(contention_shape());
  before.add_sample(Stack{0x10}, Values{5, 50}, {thread("a")});
  ProfileBuilder after(contention_shape());
  after.add_sample(Stack{0x10}, Values{8, 80}, {thread("a")});
  after.add_sample(Stack{0x10}, Values{2, 20}, {thread("b")});
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(at(*d, 0x10, "a"), (Values{3, 30}));
  EXPECT_EQ(at(*d, 0x10, "b"), (Values{2, 20}));
}

TEST(ProfileDelta, AnotherAddressIsAnotherStackAndOnlyBeforeIsLeftOut) {
  ProfileBuilder before(contention_shape());
  before.add_sample(Stack{0x10}, Values{5, 5});
  before.add_sample(Stack{0x99}, Values{1, 1});
  ProfileBuilder after(contention_shape());
  after.add_sample(Stack{0x11}, Values{5, 5});
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->sample_count(), 1u);
  EXPECT_EQ(at(*d, 0x11), (Values{5, 5}));
}

TEST(ProfileDelta, SyntheticFramesMatchByNameAcrossBuilders) {
  ProfileBuilder before(contention_shape());
  before.add_synthetic_sample("[profagent]", Values{1, 1});
  before.add_synthetic_sample("[profagent: lost]", Values{4, 40});
  ProfileBuilder after(contention_shape());  // the other order: other synthetic indices
  after.add_synthetic_sample("[profagent: lost]", Values{6, 70});
  after.add_synthetic_sample("[profagent]", Values{1, 1});
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  ASSERT_EQ(d->sample_count(), 1u);
  const auto& [key, values] = *d->samples().begin();
  EXPECT_EQ(d->synthetic_name(key), "[profagent: lost]");
  EXPECT_EQ(values, (Values{2, 30}));
}

TEST(ProfileDelta, TheShapeDecidesWhatAccumulatesNotTheNames) {
  ProfileShape shape;
  shape.sample_types = {{"inuse_like", "count", Accumulation::kCumulative},
                        {"alloc_like", "count", Accumulation::kCurrent}};
  ProfileBuilder before(shape), after(shape);
  before.add_sample(Stack{0x10}, Values{10, 10});
  after.add_sample(Stack{0x10}, Values{15, 15});
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(at(*d, 0x10), (Values{5, 15}));
  EXPECT_TRUE(shape.has_cumulative());
  EXPECT_FALSE(ProfileShape{}.has_cumulative());
}

// The collectors state the rule: counters since start accumulate, levels do not.
TEST(ProfileDelta, CollectorsMarkWhichValuesAccumulate) {
  ProfileShape heap = build_heap_profile(524288, 1).shape();
  ASSERT_EQ(heap.sample_types.size(), 4u);
  EXPECT_EQ(heap.sample_types[0].accumulation, Accumulation::kCumulative);  // alloc_objects
  EXPECT_EQ(heap.sample_types[1].accumulation, Accumulation::kCumulative);  // alloc_space
  EXPECT_EQ(heap.sample_types[2].accumulation, Accumulation::kCurrent);     // inuse_objects
  EXPECT_EQ(heap.sample_types[3].accumulation, Accumulation::kCurrent);     // inuse_space
  static ContentionTable table;
  ASSERT_TRUE(table.init(16));
  ProfileShape contention = build_contention_profile(kMutexKind, table, 1).shape();
  for (const ValueType& t : contention.sample_types)
    EXPECT_EQ(t.accumulation, Accumulation::kCumulative) << t.type;
}

TEST(ProfileDelta, ACounterThatWentDownCountsFromZero) {
  ProfileBuilder before(heap_shape()), after(heap_shape());
  before.add_sample(Stack{0x1000}, Values{10, 1000, 0, 0});
  after.add_sample(Stack{0x1000}, Values{3, 300, 0, 0});
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(at(*d, 0x1000), (Values{3, 300, 0, 0}));
}

TEST(ProfileDelta, FirstWindowSinceStartAndSumOfDeltasIsTheLastCumulative) {
  // Push: the first delta is against an empty profile stamped with the process start.
  ProfileBuilder base(heap_shape());
  base.set_time(500);
  int64_t sum = 0;
  for (int i = 1; i <= 20; ++i) {
    ProfileBuilder cumulative(heap_shape());
    cumulative.set_time(500 + i * 1000);
    cumulative.add_sample(Stack{0x1000}, Values{i * 3, i * 300, 1, 100}, {thread("main")});
    cumulative.add_sample(Stack{0x2000}, Values{i, i * 50, 0, 0}, {thread("main")});
    auto d = profile_delta(base, cumulative);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->time_nanos(), base.time_nanos());
    EXPECT_EQ(d->duration_nanos(), 1000);
    for (const auto& [key, values] : d->samples()) sum += values[1];
    base = cumulative;
  }
  EXPECT_EQ(sum, 20 * 300 + 20 * 50);
}

TEST(ProfileDelta, TimesWithoutAnEarlierTimeAreAfters) {
  ProfileBuilder before(contention_shape()), after(contention_shape());
  after.set_time(7000, 5);
  auto d = profile_delta(before, after);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->time_nanos(), 7000);
  EXPECT_EQ(d->duration_nanos(), 5);
}

TEST(ProfileDelta, MismatchedSampleTypesAreRefused) {
  ProfileBuilder contention(contention_shape());
  EXPECT_FALSE(profile_delta(contention, ProfileBuilder(heap_shape())));
  ProfileShape renamed = contention_shape();
  renamed.sample_types[1].type = "wait";
  EXPECT_FALSE(profile_delta(contention, ProfileBuilder(renamed)));
}

// The push path: the cumulative profile symbolized at the dump, its samples replaced by the
// delta, encoded without a Symbolizer; libprotobuf reads back the delta with its frames.
TEST(ProfileDelta, ADeltaReplacingASymbolizedProfileEncodesWithItsFrames) {
  std::map<uint64_t, ResolvedAddress> table;
  for (auto [address, name] : {std::pair<uint64_t, const char*>{0x1000, "grow"},
                               {0x2000, "steady"}, {0x3000, "main"}}) {
    ResolvedAddress& r = table[address];
    r.mapping_index = 0;
    r.symbolized = true;
    r.frames.push_back(SourceFrame{name, "", "f.c", 1, 0});
  }
  AddressResolver resolve = [&](uint64_t a) -> const ResolvedAddress& { return table.at(a); };
  std::vector<MappingInfo> mappings{{0x1000, 0x4000, 0, "/bin/app", ""}};

  ProfileBuilder before(heap_shape()), after(heap_shape());
  before.set_time(1000);
  before.add_sample(Stack{0x1000, 0x3000}, Values{1, 10, 1, 10}, {thread("main")});
  before.add_sample(Stack{0x2000, 0x3000}, Values{2, 20, 0, 0}, {thread("main")});
  after.set_time(4000);
  after.add_comment("self accounting");
  after.add_sample(Stack{0x1000, 0x3000}, Values{5, 50, 2, 20}, {thread("main")});
  after.add_sample(Stack{0x2000, 0x3000}, Values{2, 20, 0, 0}, {thread("main")});
  after.add_synthetic_sample("[profagent: lost]", Values{1, 0, 0, 0});

  SymbolizedProfile current = symbolize_profile(after, mappings, resolve);
  auto d = profile_delta(before, current.builder);
  ASSERT_TRUE(d);
  current.replace_samples(std::move(*d));

  pprof::Profile p;
  ASSERT_TRUE(p.ParseFromString(current.encode()));
  EXPECT_EQ(p.time_nanos(), 1000);
  EXPECT_EQ(p.duration_nanos(), 3000);
  ASSERT_EQ(p.sample_size(), 2);  // "steady" had nothing new
  auto leaf = [&](const pprof::Sample& s) {
    const auto& loc = p.location(static_cast<int>(s.location_id(0)) - 1);
    return p.string_table(p.function(static_cast<int>(loc.line(0).function_id()) - 1).name());
  };
  std::map<std::string, Values> got;
  for (const auto& s : p.sample()) got[leaf(s)] = Values(s.value().begin(), s.value().end());
  EXPECT_EQ(got["grow"], (Values{4, 40, 2, 20}));
  EXPECT_EQ(got["[profagent: lost]"], (Values{1, 0, 0, 0}));
  ASSERT_EQ(p.comment_size(), 1);
  EXPECT_EQ(p.string_table(p.comment(0)), "self accounting");
}

TEST(ProfileDelta, ReplacingWithStacksNeverSymbolizedDropsThem) {
  std::map<uint64_t, ResolvedAddress> table;
  table[0x10].frames.push_back(SourceFrame{"f", "", "", 0, 0});
  AddressResolver resolve = [&](uint64_t a) -> const ResolvedAddress& { return table.at(a); };
  ProfileBuilder b(contention_shape());
  b.add_sample(Stack{0x10}, Values{1, 1});
  SymbolizedProfile p = symbolize_profile(b, {}, resolve);
  ProfileBuilder other(contention_shape());
  other.add_sample(Stack{0x10}, Values{2, 2}, {thread("new label")});
  other.add_sample(Stack{0x20}, Values{3, 3});
  other.add_synthetic_sample("[never seen]", Values{4, 4});
  p.replace_samples(other);
  EXPECT_EQ(p.builder.sample_count(), 1u);
  pprof::Profile decoded;
  ASSERT_TRUE(decoded.ParseFromString(p.encode()));
  ASSERT_EQ(decoded.sample_size(), 1);
  ASSERT_EQ(decoded.sample(0).label_size(), 1);
  EXPECT_EQ(decoded.string_table(decoded.sample(0).label(0).str()), "new label");
}

}  // namespace
}  // namespace profagent
