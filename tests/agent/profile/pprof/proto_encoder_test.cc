// The hand-written protobuf encoder against the former generated-protobuf one
// (reference_encoder.h): a range of profiles is encoded by both, our bytes are decoded with
// the real libprotobuf, and the decoded message must be exactly the reference's (and, as
// the encoder writes fields in protobuf's own order, the bytes identical too). Also the
// wire primitives at their edges (varint lengths, negative int64, packed fields).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "agent/profile/pprof/proto_writer.h"
#include "agent/profile/pprof/symbolized_profile.h"
#include "agent/profile/symbolize/symbolizer.h"
#include "profile.pb.h"
#include "tests/agent/profile/pprof/reference_encoder.h"

namespace profagent {
namespace {

using pprof_internal::ProtoWriter;
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

// A symbol table for tests: what each address resolves to; unknown addresses get the
// Symbolizer's "0x..." unnamed frame outside any mapping.
class FakeSymbols {
 public:
  void add(uint64_t address, int mapping, std::vector<SourceFrame> frames, bool symbolized,
           bool file_line) {
    ResolvedAddress r;
    r.mapping_index = mapping;
    r.frames = std::move(frames);
    r.symbolized = symbolized;
    r.has_file_line = file_line;
    table_[address] = std::move(r);
  }
  AddressResolver resolver() {
    return [this](uint64_t address) -> const ResolvedAddress& {
      auto it = table_.find(address);
      if (it != table_.end()) return it->second;
      ResolvedAddress& r = table_[address];
      r.frames.push_back(SourceFrame{"0x" + std::to_string(address), "", "", 0, 0});
      return r;
    };
  }

 private:
  std::map<uint64_t, ResolvedAddress> table_;
};

SourceFrame frame(std::string fn, std::string file = "", int64_t line = 0, std::string sys = "",
                  int64_t start = 0) {
  return SourceFrame{std::move(fn), std::move(sys), std::move(file), line, start};
}

std::vector<MappingInfo> two_mappings() {
  return {{0x400000, 0x500000, 0x1000, "/usr/bin/app", "abcdef0123"},
          {0x7f0000000000, 0x7f0000100000, 0, "/lib/x86_64-linux-gnu/libc.so.6", ""}};
}

ProfileShape heap_shape() {
  ProfileShape shape;
  shape.sample_types = {{"alloc_objects", "count", Accumulation::kCumulative},
                        {"alloc_space", "bytes", Accumulation::kCumulative},
                        {"inuse_objects", "count"},
                        {"inuse_space", "bytes"}};
  shape.period_type = {"space", "bytes"};
  shape.period = 524288;
  shape.default_sample_type = "inuse_space";
  return shape;
}

ProfileShape cpu_shape() {
  return ProfileShape{{{"samples", "count"}, {"cpu", "nanoseconds"}}, {"cpu", "nanoseconds"},
                      10000000, ""};
}

// A readable form of a decoded profile, for failure messages.
std::string describe(const pprof::Profile& p) {
  std::string out;
  auto add = [&](const std::string& s) { out += s + "\n"; };
  for (const auto& t : p.sample_type()) add("type " + std::to_string(t.type()) + "/" + std::to_string(t.unit()));
  for (const auto& s : p.sample()) {
    std::string line = "sample";
    for (uint64_t id : s.location_id()) line += " L" + std::to_string(id);
    line += " =";
    for (int64_t v : s.value()) line += " " + std::to_string(v);
    for (const auto& l : s.label())
      line += " [" + std::to_string(l.key()) + " s" + std::to_string(l.str()) + " n" +
              std::to_string(l.num()) + " u" + std::to_string(l.num_unit()) + "]";
    add(line);
  }
  for (const auto& m : p.mapping())
    add("mapping " + std::to_string(m.id()) + " " + std::to_string(m.memory_start()) + "-" +
        std::to_string(m.memory_limit()) + " off " + std::to_string(m.file_offset()) + " f" +
        std::to_string(m.filename()) + " b" + std::to_string(m.build_id()) + " flags " +
        std::to_string(m.has_functions()) + std::to_string(m.has_filenames()) +
        std::to_string(m.has_line_numbers()) + std::to_string(m.has_inline_frames()));
  for (const auto& l : p.location()) {
    std::string line = "location " + std::to_string(l.id()) + " m" +
                       std::to_string(l.mapping_id()) + " @" + std::to_string(l.address());
    for (const auto& ln : l.line())
      line += " F" + std::to_string(ln.function_id()) + ":" + std::to_string(ln.line());
    add(line);
  }
  for (const auto& f : p.function())
    add("function " + std::to_string(f.id()) + " " + std::to_string(f.name()) + " " +
        std::to_string(f.system_name()) + " " + std::to_string(f.filename()) + " " +
        std::to_string(f.start_line()));
  for (int i = 0; i < p.string_table_size(); ++i)
    add("string " + std::to_string(i) + " '" + p.string_table(i) + "'");
  add("time " + std::to_string(p.time_nanos()) + " duration " + std::to_string(p.duration_nanos()));
  add("period_type " + std::to_string(p.period_type().type()) + "/" +
      std::to_string(p.period_type().unit()) + " period " + std::to_string(p.period()));
  std::string comments = "comments";
  for (int64_t c : p.comment()) comments += " " + std::to_string(c);
  add(comments);
  add("default " + std::to_string(p.default_sample_type()));
  return out;
}

// Encodes `b` both ways and requires the same decoded profile (and the same bytes).
void expect_same_as_reference(const ProfileBuilder& b, const std::vector<MappingInfo>& mappings,
                              FakeSymbols& symbols) {
  AddressResolver resolve = symbols.resolver();
  const pprof::Profile reference = testing::reference_encode(b, mappings, resolve);
  const std::string ours = symbolize_profile(b, mappings, resolve).encode();
  pprof::Profile decoded;
  ASSERT_TRUE(decoded.ParseFromString(ours)) << "libprotobuf cannot parse our encoding";
  EXPECT_EQ(describe(decoded), describe(reference));
  EXPECT_EQ(decoded.SerializeAsString(), reference.SerializeAsString())
      << "decoded messages differ";
  EXPECT_EQ(ours, reference.SerializeAsString()) << "bytes differ from protobuf's serializer";
}

TEST(ProtoEncoder, EmptyProfiles) {
  FakeSymbols symbols;
  expect_same_as_reference(ProfileBuilder(cpu_shape()), {}, symbols);
  expect_same_as_reference(ProfileBuilder(cpu_shape()), two_mappings(), symbols);
  ProfileShape bare;  // no sample types, empty period type, period 0
  bare.period = 0;
  expect_same_as_reference(ProfileBuilder(bare), {}, symbols);
}

TEST(ProtoEncoder, HeaderTimesCommentsAndDefaultType) {
  FakeSymbols symbols;
  ProfileBuilder b(heap_shape());
  b.set_time(1700000000123456789, 2500000000);
  b.add_comment("profagent 0.1.0 pid=42");
  b.add_comment("");
  b.add_comment("profagent 0.1.0 pid=42");  // a repeated comment: one string, two entries
  b.add_comment("ünïcødé \x01 and a NUL-free tab\t");
  b.add_sample(std::vector<uint64_t>{0x400100}, std::vector<int64_t>{1, 2, 3, 4});
  expect_same_as_reference(b, two_mappings(), symbols);
  ProfileBuilder negative_time(cpu_shape());
  negative_time.set_time(-5, -7);
  expect_same_as_reference(negative_time, {}, symbols);
}

TEST(ProtoEncoder, LabelsStringNumericWithUnitAndDropped) {
  FakeSymbols symbols;
  symbols.add(0x400100, 0, {frame("work", "app.c", 10)}, true, true);
  ProfileBuilder b(heap_shape());
  std::vector<uint64_t> stack{0x400100};
  b.add_sample(stack, std::vector<int64_t>{1, 16, 1, 16},
               {ProfileBuilder::str_label("thread_name", "worker-1"),
                ProfileBuilder::num_label("tid", 4242),
                ProfileBuilder::num_label("bytes", 16, "bytes"),
                ProfileBuilder::num_label("zero", 0),              // dropped
                ProfileBuilder::num_label("zero_unit", 0, "ms"),   // kept: has a unit
                ProfileBuilder::num_label("negative", -3, "bytes"),
                ProfileBuilder::num_label("huge", kMax),
                ProfileBuilder::num_label("tiny", kMin)});
  b.add_sample(stack, std::vector<int64_t>{2, 64, 0, 0},
               {ProfileBuilder::str_label("thread_name", "worker-2")});
  b.add_sample(stack, std::vector<int64_t>{5, 5, 5, 5});  // no labels
  expect_same_as_reference(b, two_mappings(), symbols);
}

TEST(ProtoEncoder, SyntheticFramesInlineChainsAndUnsymbolized) {
  FakeSymbols symbols;
  // An inline chain: two inlined frames inside their physical function.
  symbols.add(0x400200, 0,
              {frame("inlined_leaf", "app.h", 12, "_Z12inlined_leafv", 10),
               frame("inlined_mid", "app.h", 30, "_Z11inlined_midv", 28),
               frame("outer", "app.c", 99, "", 90)},
              true, true);
  // The same function at another address (deduplicated), and a symbol without lines.
  symbols.add(0x400210, 0, {frame("outer", "app.c", 100, "", 90)}, true, true);
  symbols.add(0x7f0000000500, 1, {frame("memcpy", "", 0, "__memcpy_avx2")}, true, false);
  // An unnamed address in a mapping, and one outside every mapping.
  symbols.add(0x400900, 0, {frame("app+0x900")}, false, false);
  symbols.add(0x1234, -1, {frame("0x1234")}, false, false);
  symbols.add(0x400300, 7, {frame("bad_mapping_index")}, true, true);  // out of range

  ProfileBuilder b(cpu_shape());
  b.add_synthetic_sample("[profagent: lost]", std::vector<int64_t>{3, 30000000});
  b.add_sample(std::vector<uint64_t>{0x400200, 0x400210, 0x400900},
               std::vector<int64_t>{1, 10000000},
               {ProfileBuilder::num_label("tid", 7), ProfileBuilder::str_label("thread_name", "a")});
  b.add_sample(std::vector<uint64_t>{0x7f0000000500, 0x400200, 0x1234},
               std::vector<int64_t>{2, 20000000});
  b.add_synthetic_sample("[profagent]", std::vector<int64_t>{1, 10000000},
                         {ProfileBuilder::num_label("tid", 7)});
  b.add_synthetic_sample("[profagent: lost]", std::vector<int64_t>{1, 1},
                         {ProfileBuilder::num_label("tid", 8)});
  b.add_sample(std::vector<uint64_t>{0x400300, 0xffffffffffffffff, 0},
               std::vector<int64_t>{1, 1});
  expect_same_as_reference(b, two_mappings(), symbols);
  expect_same_as_reference(b, {}, symbols);  // no mappings: Go's one zeroed mapping
}

TEST(ProtoEncoder, HugeAndNegativeValues) {
  FakeSymbols symbols;
  ProfileShape shape = cpu_shape();
  shape.period = kMax;
  ProfileBuilder b(shape);
  b.add_sample(std::vector<uint64_t>{0x400100}, std::vector<int64_t>{kMax, kMin});
  b.add_sample(std::vector<uint64_t>{0x400100}, std::vector<int64_t>{kMax, -1});  // saturates
  b.add_sample(std::vector<uint64_t>{0x400110}, std::vector<int64_t>{-1, 0});
  b.add_sample(std::vector<uint64_t>{0x400120}, std::vector<int64_t>{0, 0});
  b.add_sample(std::vector<uint64_t>{0x400130}, std::vector<int64_t>{127, 128});
  b.add_sample(std::vector<uint64_t>{0x400140}, std::vector<int64_t>{16383, 16384});
  b.add_sample(std::vector<uint64_t>{}, std::vector<int64_t>{1, 2});  // empty stack
  expect_same_as_reference(b, two_mappings(), symbols);
  ProfileShape negative = cpu_shape();
  negative.period = -10;
  expect_same_as_reference(ProfileBuilder(negative), {}, symbols);
}

TEST(ProtoEncoder, ALargeRandomProfile) {
  FakeSymbols symbols;
  std::mt19937_64 rng(12345);
  std::vector<uint64_t> addresses;
  for (int i = 0; i < 300; ++i) {
    uint64_t a = 0x400000 + (rng() % 0x100000);
    addresses.push_back(a);
    std::vector<SourceFrame> frames;
    int depth = 1 + static_cast<int>(rng() % 3);
    for (int d = 0; d < depth; ++d)
      frames.push_back(frame("fn" + std::to_string(rng() % 120), "src" + std::to_string(rng() % 9) + ".cc",
                             static_cast<int64_t>(rng() % 5000), "", static_cast<int64_t>(rng() % 3)));
    symbols.add(a, 0, std::move(frames), rng() % 8 != 0, rng() % 4 != 0);
  }
  ProfileBuilder b(heap_shape());
  for (int i = 0; i < 5000; ++i) {
    std::vector<uint64_t> stack;
    size_t depth = rng() % 40;
    for (size_t d = 0; d < depth; ++d) stack.push_back(addresses[rng() % addresses.size()]);
    std::vector<int64_t> values;
    for (int v = 0; v < 4; ++v) values.push_back(static_cast<int64_t>(rng()) >> (rng() % 64));
    b.add_sample(stack, values,
                 {ProfileBuilder::num_label("tid", static_cast<int64_t>(rng() % 16)),
                  ProfileBuilder::num_label("bytes", static_cast<int64_t>(rng() % 4096), "bytes"),
                  ProfileBuilder::str_label("thread_name", "t" + std::to_string(rng() % 5))});
    if (i % 500 == 0) b.add_synthetic_sample("[profagent: lost]", values);
  }
  expect_same_as_reference(b, two_mappings(), symbols);
}

// Real addresses of this test binary, resolved by the real Symbolizer.
__attribute__((noinline)) int encoder_test_leaf(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}
__attribute__((noinline)) int encoder_test_root(int x) {
  asm volatile("" ::: "memory");
  return encoder_test_leaf(x) * 7;
}

TEST(ProtoEncoder, RealSymbolizer) {
  Symbolizer symbolizer;
  symbolizer.refresh();
  AddressResolver resolve = [&](uint64_t a) -> const ResolvedAddress& {
    return symbolizer.resolve(a);
  };
  ProfileBuilder b(cpu_shape());
  b.add_sample(std::vector<uint64_t>{reinterpret_cast<uint64_t>(&encoder_test_leaf) + 1,
                                     reinterpret_cast<uint64_t>(&encoder_test_root) + 1,
                                     reinterpret_cast<uint64_t>(&memcpy) + 1},
               std::vector<int64_t>{1, 10000000}, {ProfileBuilder::num_label("tid", 1)});
  const pprof::Profile reference = testing::reference_encode(b, symbolizer.mappings(), resolve);
  const std::string ours = symbolize_profile(b, symbolizer).encode();
  EXPECT_EQ(ours, reference.SerializeAsString());
  EXPECT_EQ(b.encode(symbolizer), ours);
}

TEST(ProtoWriter, VarintsAtTheirEdgesParseWithLibprotobuf) {
  const int64_t values[] = {0, 1, 127, 128, 16383, 16384, (int64_t{1} << 35) - 1, kMax, -1, kMin};
  for (int64_t v : values) {
    ProtoWriter w;
    w.int64_field(1, 5);
    w.int64_field(3, v);  // Label.num
    pprof::Label label;
    ASSERT_TRUE(label.ParseFromString(w.bytes())) << v;
    EXPECT_EQ(label.key(), 5);
    EXPECT_EQ(label.num(), v);
    EXPECT_EQ(w.bytes().size(), 2 + (v == 0 ? 0 : 1 + pprof_internal::varint_size(static_cast<uint64_t>(v))));
  }
  EXPECT_EQ(pprof_internal::varint_size(0), 1u);
  EXPECT_EQ(pprof_internal::varint_size(127), 1u);
  EXPECT_EQ(pprof_internal::varint_size(128), 2u);
  EXPECT_EQ(pprof_internal::varint_size(~uint64_t{0}), 10u);
}

TEST(ProtoWriter, PackedFieldsAndSubmessages) {
  ProtoWriter sample, label;
  const uint64_t ids[] = {1, 300, ~uint64_t{0}};
  const int64_t values[] = {-1, 0, kMax};
  sample.packed_uint64(1, ids);
  sample.packed_int64(2, values);
  label.int64_field(1, 2);
  label.int64_field(2, 3);
  sample.message_field(3, label);
  sample.message_field(3, ProtoWriter());  // an empty submessage is still an element
  pprof::Sample s;
  ASSERT_TRUE(s.ParseFromString(sample.bytes()));
  ASSERT_EQ(s.location_id_size(), 3);
  EXPECT_EQ(s.location_id(2), ~uint64_t{0});
  ASSERT_EQ(s.value_size(), 3);
  EXPECT_EQ(s.value(0), -1);
  EXPECT_EQ(s.value(2), kMax);
  ASSERT_EQ(s.label_size(), 2);
  EXPECT_EQ(s.label(0).str(), 3);
  pprof::Sample again;
  ASSERT_TRUE(again.ParseFromString(s.SerializeAsString()));
  EXPECT_EQ(s.SerializeAsString(), sample.bytes());  // protobuf writes exactly these bytes
  ProtoWriter nothing;
  nothing.packed_int64(2, std::span<const int64_t>());
  nothing.uint64_field(1, 0);
  nothing.bool_field(7, false);
  EXPECT_TRUE(nothing.bytes().empty());
}

}  // namespace
}  // namespace profagent
