// Unit tests of the registry and the kinds' descriptors: every descriptor is complete and
// consistent with itself, with the others (unique names, routes, variables, options) and
// with what its collector writes; config and push read them as the files and Pyroscope
// expect.
#include "collectors/registry.h"

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "agent/core/config.h"
#include "agent/output/push/sample_type_config.h"
#include "collectors/locks/contention_collector.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/heap/heap_collector.h"
#include "collectors/heap/heap_kind.h"
#include "collectors/threads/threads_collector.h"
#include "collectors/threads/threads_kind.h"

namespace profagent {
namespace {

bool lower_word(const char* s) {
  if (s == nullptr || *s == '\0') return false;
  for (; *s; ++s)
    if (!((*s >= 'a' && *s <= 'z') || *s == '_')) return false;
  return true;
}

TEST(Registry, ListsEveryKindOnceWithItsCollector) {
  auto kinds = all_kinds();
  auto collectors = make_all_collectors();
  ASSERT_EQ(kinds.size(), collectors.size());
  std::set<std::string> names;
  for (size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(&collectors[i]->descriptor(), kinds[i]) << kinds[i]->name;
    EXPECT_STREQ(collectors[i]->kind(), kinds[i]->name);
    EXPECT_TRUE(names.insert(kinds[i]->name).second) << kinds[i]->name;
    EXPECT_EQ(find_kind(kinds[i]->name), kinds[i]);
  }
  EXPECT_EQ(find_kind("nonesuch"), nullptr);
}

TEST(Registry, EveryDescriptorIsComplete) {
  std::set<std::string> routes, envs, options;
  for (const ProfileKind* k : all_kinds()) {
    SCOPED_TRACE(k->name);
    EXPECT_TRUE(lower_word(k->name));  // a file suffix
    ASSERT_FALSE(k->sample_types.empty());
    for (const SampleTypeSpec& t : k->sample_types) {
      EXPECT_TRUE(lower_word(t.type));
      EXPECT_TRUE(lower_word(t.unit));
      EXPECT_TRUE(lower_word(t.push_units));
      if (t.push_display_name != nullptr) EXPECT_TRUE(lower_word(t.push_display_name));
    }
    EXPECT_TRUE(lower_word(k->period_type));
    EXPECT_TRUE(lower_word(k->period_unit));
    ASSERT_FALSE(k->routes.empty());
    for (const HttpRoute& r : k->routes) {
      EXPECT_TRUE(lower_word(r.name));
      EXPECT_TRUE(routes.insert(r.name).second) << r.name;
      ASSERT_NE(r.description, nullptr);
      EXPECT_GT(strlen(r.description), 10u);
      if (r.default_sample_type != nullptr) {
        bool found = false;
        for (const SampleTypeSpec& t : k->sample_types)
          found = found || strcmp(t.type, r.default_sample_type) == 0;
        EXPECT_TRUE(found) << r.default_sample_type;
      }
    }
    const KindSetting& s = k->setting;
    ASSERT_NE(s.env, nullptr);
    EXPECT_EQ(std::string(s.env).rfind("PROFAGENT_", 0), 0u);
    EXPECT_TRUE(envs.insert(s.env).second) << s.env;
    EXPECT_EQ(s.min, 0);  // 0 is off for every kind
    EXPECT_GT(s.max, 0);
    EXPECT_GE(s.default_value, s.min);
    EXPECT_LE(s.default_value, s.max);
    EXPECT_LE(s.on_demand_value, s.max);
    if (s.boolean) EXPECT_EQ(s.max, 1);
    ASSERT_NE(s.expected, nullptr);
    ASSERT_NE(s.fallback, nullptr);
    ASSERT_NE(k->enable_hint, nullptr);
    EXPECT_EQ(std::string(k->enable_hint).rfind(std::string(s.env) + "=", 0), 0u);
    ASSERT_NE(k->wrapper_option, nullptr);
    EXPECT_EQ(std::string(k->wrapper_option).rfind("--", 0), 0u);
    EXPECT_TRUE(options.insert(k->wrapper_option).second);
    ASSERT_NE(k->lost_frame, nullptr);
    EXPECT_EQ(std::string(k->lost_frame).rfind("[profagent", 0), 0u);
    // Only a kind that keeps its own per-window lost count goes without a counter.
    if (k->lost == nullptr) EXPECT_EQ(k->window, ProfileWindow::kSinceLastDump);
    // A window kind's values all accumulate over the window.
    if (k->window == ProfileWindow::kSinceLastDump)
      for (const SampleTypeSpec& t : k->sample_types) EXPECT_FALSE(t.instantaneous);
    // A snapshot has nothing that accumulates.
    if (k->window == ProfileWindow::kSnapshot)
      for (const SampleTypeSpec& t : k->sample_types) EXPECT_TRUE(t.instantaneous);
    // Runs on demand only if it keeps windows itself.
    if (s.on_demand_value > 0) EXPECT_EQ(k->window, ProfileWindow::kSinceLastDump);
  }
}

// The shape a collector writes is the one its descriptor declares.
void expect_shape(const ProfileKind& k, const ProfileShape& shape) {
  SCOPED_TRACE(k.name);
  ASSERT_EQ(shape.sample_types.size(), k.sample_types.size());
  for (size_t i = 0; i < shape.sample_types.size(); ++i) {
    EXPECT_EQ(shape.sample_types[i].type, k.sample_types[i].type);
    EXPECT_EQ(shape.sample_types[i].unit, k.sample_types[i].unit);
  }
  EXPECT_EQ(shape.period_type.type, k.period_type);
  EXPECT_EQ(shape.period_type.unit, k.period_unit);
}

TEST(Registry, SnapshotsHaveTheDeclaredShape) {
  expect_shape(kHeapKind, build_heap_profile(524288, 0).shape());
  for (ContentionSide side : {ContentionSide::kMutex, ContentionSide::kBlock}) {
    auto c = make_contention_collector(side);
    Config config;
    config.kind_values[c->kind()] = 1;
    ASSERT_TRUE(c->start(config));
    std::optional<ProfileBuilder> b = c->snapshot(DumpRequest{});
    c->stop();
    ASSERT_TRUE(b.has_value());
    expect_shape(c->descriptor(), b->shape());
  }
  ThreadsCollector threads;
  Config config;
  config.kind_values["threads"] = 1;
  if (threads.start(config)) {
    std::optional<ProfileBuilder> b = threads.snapshot(DumpRequest{});
    threads.stop();
    ASSERT_TRUE(b.has_value());
    expect_shape(kThreadsKind, b->shape());
    EXPECT_GT(b->sample_count(), 0u);
  }
}

TEST(Registry, ConfigReadsEveryKindsVariable) {
  for (const ProfileKind* k : all_kinds()) {
    SCOPED_TRACE(k->name);
    std::string on = std::to_string(k->setting.max);
    ParsedConfig p = parse_config(
        [&](const char* name) { return strcmp(name, k->setting.env) == 0 ? on.c_str() : nullptr; },
        "/", all_kinds());
    EXPECT_TRUE(p.warnings.empty());
    EXPECT_EQ(p.config.value(k->name), k->setting.max);
    for (const ProfileKind* other : all_kinds())
      if (other != k) EXPECT_EQ(p.config.value(other->name), other->setting.default_value);
    ParsedConfig bad = parse_config(
        [&](const char* name) { return strcmp(name, k->setting.env) == 0 ? "lots" : nullptr; },
        "/", all_kinds());
    ASSERT_EQ(bad.warnings.size(), 1u);
    EXPECT_EQ(bad.warnings[0], std::string(k->setting.env) + "='lots' is not " +
                                   k->setting.expected + "; using " + k->setting.fallback);
    EXPECT_EQ(bad.config.value(k->name), k->setting.default_value);
  }
}

TEST(Registry, PyroscopeSampleTypeConfigIsUnchanged) {
  // What the push sent for each kind before the descriptors existed, byte for byte.
  EXPECT_EQ(sample_type_config_json(*find_kind("cpu")),
            R"({"samples":{"units":"samples","display-name":"cpu","aggregation":"sum","sampled":true},)"
            R"("cpu":{"units":"nanoseconds","display-name":"cpu","aggregation":"sum","sampled":true}})");
  EXPECT_EQ(sample_type_config_json(*find_kind("heap")),
            R"({"alloc_objects":{"units":"objects","aggregation":"sum"},)"
            R"("alloc_space":{"units":"bytes","aggregation":"sum"},)"
            R"("inuse_objects":{"units":"objects","aggregation":"average"},)"
            R"("inuse_space":{"units":"bytes","aggregation":"average"}})");
  EXPECT_EQ(sample_type_config_json(*find_kind("mutex")),
            R"({"contentions":{"units":"lock_samples","display-name":"mutex_count","aggregation":"sum"},)"
            R"("delay":{"units":"lock_nanoseconds","display-name":"mutex_duration","aggregation":"sum"}})");
  EXPECT_EQ(sample_type_config_json(*find_kind("block")),
            R"({"contentions":{"units":"lock_samples","display-name":"block_count","aggregation":"sum"},)"
            R"("delay":{"units":"lock_nanoseconds","display-name":"block_duration","aggregation":"sum"}})");
  EXPECT_EQ(sample_type_config_json(*find_kind("threads")),
            R"({"threads":{"units":"threads","display-name":"threads","aggregation":"average"}})");
}

TEST(Registry, DeltaRuleFollowsTheWindowAndTheLevels) {
  // Counters since start are subtracted, levels kept, windows and snapshots never subtracted.
  const ProfileKind& heap = *find_kind("heap");
  EXPECT_TRUE(subtracts_in_delta(heap, 0));
  EXPECT_TRUE(subtracts_in_delta(heap, 1));
  EXPECT_FALSE(subtracts_in_delta(heap, 2));
  EXPECT_FALSE(subtracts_in_delta(heap, 3));
  EXPECT_FALSE(subtracts_in_delta(heap, 4));  // out of range
  EXPECT_TRUE(subtracts_in_delta(*find_kind("mutex"), 1));
  EXPECT_FALSE(subtracts_in_delta(*find_kind("cpu"), 0));
  EXPECT_FALSE(subtracts_in_delta(*find_kind("threads"), 0));
}

}  // namespace
}  // namespace profagent
