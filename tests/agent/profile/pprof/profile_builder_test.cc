// Tests for ProfileBuilder: encode + gzip, decoded again with zlib and the generated parser,
// symbolized by the real Symbolizer on this test process (addresses of functions below), the
// structural rules of docs/pprof-semantics.md §2/§3/§9 checked on every profile, and go tool
// pprof (the real reader) run on a written file when go is installed.
#include "agent/profile/pprof/profile_builder.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "agent/profile/pprof/file_writer.h"
#include "agent/profile/symbolize/symbolizer.h"
#include "profile.pb.h"

// Real functions of the test binary; their addresses (+1, inside the body) are the stacks.
namespace profagent_pprof_test {
__attribute__((noinline)) int pprof_test_leaf(int x) {
  asm volatile("" ::: "memory");
  return x * 3 + 1;
}
__attribute__((noinline)) int pprof_test_middle(int x) {
  asm volatile("" ::: "memory");
  return pprof_test_leaf(x) * 5 + 2;
}
__attribute__((noinline)) int pprof_test_root(int x) {
  asm volatile("" ::: "memory");
  return pprof_test_middle(x) * 7 + 3;
}
}  // namespace profagent_pprof_test

namespace profagent {
namespace {

namespace t = profagent_pprof_test;
using Profile = pprof::Profile;

uint64_t addr_in(int (*fn)(int), uint64_t delta = 1) {
  return reinterpret_cast<uint64_t>(fn) + delta;
}

ProfileShape cpu_shape() {
  return ProfileShape{{{"samples", "count"}, {"cpu", "nanoseconds"}},
                      {"cpu", "nanoseconds"},
                      10000000,
                      ""};
}

std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  EXPECT_EQ(zs.avail_in, 0u);  // exactly one gzip member, nothing trailing
  inflateEnd(&zs);
  return out;
}

// The structural rules every profile must meet (docs/pprof-semantics.md §3, §9).
void check_valid(const Profile& p) {
  const auto& st = p.string_table();
  ASSERT_GE(st.size(), 1);
  EXPECT_EQ(st[0], "");
  std::set<std::string> uniq(st.begin(), st.end());
  EXPECT_EQ(uniq.size(), static_cast<size_t>(st.size())) << "duplicate strings";
  auto in_range = [&](int64_t i) { return i >= 0 && i < st.size(); };

  EXPECT_GT(p.sample_type_size(), 0);
  for (const auto& vt : p.sample_type()) EXPECT_TRUE(in_range(vt.type()) && in_range(vt.unit()));
  EXPECT_TRUE(in_range(p.period_type().type()) && in_range(p.period_type().unit()));
  EXPECT_TRUE(in_range(p.default_sample_type()));
  for (int64_t c : p.comment()) EXPECT_TRUE(in_range(c));

  std::set<uint64_t> mapping_ids, location_ids, function_ids;
  for (int i = 0; i < p.mapping_size(); ++i) {
    const auto& m = p.mapping(i);
    EXPECT_EQ(m.id(), static_cast<uint64_t>(i + 1));
    mapping_ids.insert(m.id());
    EXPECT_TRUE(in_range(m.filename()) && in_range(m.build_id()));
  }
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t>> fn_keys;
  for (int i = 0; i < p.function_size(); ++i) {
    const auto& f = p.function(i);
    EXPECT_EQ(f.id(), static_cast<uint64_t>(i + 1));
    function_ids.insert(f.id());
    EXPECT_TRUE(in_range(f.name()) && in_range(f.system_name()) && in_range(f.filename()));
    EXPECT_NE(f.name(), 0) << "function without a name";
    EXPECT_TRUE(fn_keys.insert({f.name(), f.system_name(), f.filename(), f.start_line()}).second)
        << "duplicate function " << st[f.name()];
  }
  std::set<uint64_t> addresses;
  for (int i = 0; i < p.location_size(); ++i) {
    const auto& l = p.location(i);
    EXPECT_EQ(l.id(), static_cast<uint64_t>(i + 1));
    location_ids.insert(l.id());
    if (l.mapping_id() != 0) {
      EXPECT_TRUE(mapping_ids.count(l.mapping_id()));
    }
    if (l.address() != 0) {
      EXPECT_TRUE(addresses.insert(l.address()).second) << "duplicate location address";
    }
    EXPECT_GT(l.line_size(), 0);
    for (const auto& line : l.line()) EXPECT_TRUE(function_ids.count(line.function_id()));
  }
  for (const auto& s : p.sample()) {
    EXPECT_EQ(s.value_size(), p.sample_type_size());
    for (uint64_t id : s.location_id()) EXPECT_TRUE(location_ids.count(id));
    for (const auto& lb : s.label()) {
      EXPECT_TRUE(in_range(lb.key()) && in_range(lb.str()) && in_range(lb.num_unit()));
      EXPECT_NE(lb.key(), 0);
    }
  }
}

Profile decode(const ProfileBuilder& b, Symbolizer& sym) {
  const std::string gz = b.encode_gzipped(sym);
  EXPECT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  Profile p;
  EXPECT_TRUE(p.ParseFromString(gunzip(gz)));
  check_valid(p);
  return p;
}

const std::string& str(const Profile& p, int64_t i) { return p.string_table(static_cast<int>(i)); }

const pprof::Location& location(const Profile& p, uint64_t id) {
  return p.location(static_cast<int>(id - 1));
}
const pprof::Function& function(const Profile& p, uint64_t id) {
  return p.function(static_cast<int>(id - 1));
}
// Name of the function that physically contains a location (its last Line).
std::string outer_name(const Profile& p, uint64_t location_id) {
  const auto& l = location(p, location_id);
  if (l.line_size() == 0) return {};
  return str(p, function(p, l.line(l.line_size() - 1).function_id()).name());
}

std::map<std::string, std::string> string_labels(const Profile& p, const pprof::Sample& s) {
  std::map<std::string, std::string> out;
  for (const auto& l : s.label()) {
    if (l.str() != 0) out[str(p, l.key())] = str(p, l.str());
  }
  return out;
}
std::map<std::string, std::pair<int64_t, std::string>> num_labels(const Profile& p,
                                                                   const pprof::Sample& s) {
  std::map<std::string, std::pair<int64_t, std::string>> out;
  for (const auto& l : s.label()) {
    if (l.str() == 0) out[str(p, l.key())] = {l.num(), str(p, l.num_unit())};
  }
  return out;
}

std::vector<Label> thread_labels(int64_t tid, const std::string& name) {
  return {ProfileBuilder::num_label("tid", tid), ProfileBuilder::str_label("thread_name", name)};
}

TEST(ProfileBuilder, RoundTripNamesRealFunctionsAndFillsHeader) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  b.set_time(1700000000123456789, 2500000000);
  b.add_comment("made by a test");
  const uint64_t stack[] = {addr_in(t::pprof_test_leaf), addr_in(t::pprof_test_middle),
                            addr_in(t::pprof_test_root)};
  const int64_t v[] = {1, 10000000};
  b.add_sample(stack, v, thread_labels(42, "worker"));
  ASSERT_EQ(b.sample_count(), 1u);

  const Profile p = decode(b, sym);
  ASSERT_EQ(p.sample_type_size(), 2);
  EXPECT_EQ(str(p, p.sample_type(0).type()), "samples");
  EXPECT_EQ(str(p, p.sample_type(0).unit()), "count");
  EXPECT_EQ(str(p, p.sample_type(1).type()), "cpu");
  EXPECT_EQ(str(p, p.sample_type(1).unit()), "nanoseconds");
  EXPECT_EQ(str(p, p.period_type().type()), "cpu");
  EXPECT_EQ(str(p, p.period_type().unit()), "nanoseconds");
  EXPECT_EQ(p.period(), 10000000);
  EXPECT_EQ(p.time_nanos(), 1700000000123456789);
  EXPECT_EQ(p.duration_nanos(), 2500000000);
  EXPECT_EQ(p.default_sample_type(), 0);
  ASSERT_EQ(p.comment_size(), 1);
  EXPECT_EQ(str(p, p.comment(0)), "made by a test");

  // Mappings: exactly the symbolizer's, in its order, mapping[0] = this executable.
  const auto& maps = sym.mappings();
  ASSERT_FALSE(maps.empty());
  ASSERT_EQ(p.mapping_size(), static_cast<int>(maps.size()));
  for (size_t i = 0; i < maps.size(); ++i) {
    const auto& m = p.mapping(static_cast<int>(i));
    EXPECT_EQ(m.memory_start(), maps[i].start);
    EXPECT_EQ(m.memory_limit(), maps[i].limit);
    EXPECT_EQ(m.file_offset(), maps[i].offset);
    EXPECT_EQ(str(p, m.filename()), maps[i].filename);
    EXPECT_EQ(str(p, m.build_id()), maps[i].build_id);
  }
  EXPECT_EQ(str(p, p.mapping(0).filename()),
            std::filesystem::canonical("/proc/self/exe").string());

  ASSERT_EQ(p.sample_size(), 1);
  const auto& s = p.sample(0);
  ASSERT_EQ(s.location_id_size(), 3);
  EXPECT_EQ(s.value(0), 1);
  EXPECT_EQ(s.value(1), 10000000);
  const char* names[] = {"pprof_test_leaf", "pprof_test_middle", "pprof_test_root"};
  for (int i = 0; i < 3; ++i) {
    const auto& l = location(p, s.location_id(i));
    EXPECT_EQ(l.address(), stack[i]);
    EXPECT_EQ(l.mapping_id(), 1u);
    EXPECT_NE(outer_name(p, l.id()).find(names[i]), std::string::npos) << outer_name(p, l.id());
    const auto& fn = function(p, l.line(l.line_size() - 1).function_id());
    EXPECT_NE(str(p, fn.system_name()).find(names[i]), std::string::npos);
    // Lines and file names exactly as the symbolizer resolved them.
    const ResolvedAddress& r = sym.resolve(stack[i]);
    ASSERT_EQ(l.line_size(), static_cast<int>(r.frames.size()));
    for (int k = 0; k < l.line_size(); ++k) {
      const auto& f = function(p, l.line(k).function_id());
      EXPECT_EQ(str(p, f.name()), r.frames[k].function);
      EXPECT_EQ(str(p, f.filename()), r.frames[k].file);
      EXPECT_EQ(f.start_line(), r.frames[k].start_line);
      EXPECT_EQ(l.line(k).line(), r.frames[k].line);
    }
    EXPECT_TRUE(r.symbolized);
  }
  EXPECT_EQ(string_labels(p, s), (std::map<std::string, std::string>{{"thread_name", "worker"}}));
  EXPECT_EQ(num_labels(p, s)["tid"], (std::pair<int64_t, std::string>{42, ""}));

  // All locations of mapping 1 are real functions: has_functions; file/line flags follow
  // what the symbolizer found.
  EXPECT_TRUE(p.mapping(0).has_functions());
  bool all_file_line = true;
  for (uint64_t a : stack) all_file_line = all_file_line && sym.resolve(a).has_file_line;
  EXPECT_EQ(p.mapping(0).has_filenames(), all_file_line);
  EXPECT_EQ(p.mapping(0).has_line_numbers(), all_file_line);
  // Mappings no location uses claim nothing.
  for (int i = 1; i < p.mapping_size(); ++i) {
    EXPECT_FALSE(p.mapping(i).has_functions());
    EXPECT_FALSE(p.mapping(i).has_filenames());
  }
}

TEST(ProfileBuilder, MergesEqualSamplesAndSplitsByLabels) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  const uint64_t stack[] = {addr_in(t::pprof_test_leaf), addr_in(t::pprof_test_root)};
  const int64_t one[] = {1, 10};
  const int64_t two[] = {2, 20};
  b.add_sample(stack, one, thread_labels(7, "a"));
  // Same labels in another order: the same sample.
  b.add_sample(stack, two, {ProfileBuilder::str_label("thread_name", "a"),
                            ProfileBuilder::num_label("tid", 7)});
  b.add_sample(stack, one, thread_labels(8, "b"));  // other labels
  const uint64_t other[] = {addr_in(t::pprof_test_middle), addr_in(t::pprof_test_root)};
  b.add_sample(other, one, thread_labels(7, "a"));  // other stack
  EXPECT_EQ(b.sample_count(), 3u);

  const Profile p = decode(b, sym);
  ASSERT_EQ(p.sample_size(), 3);
  std::map<std::pair<int64_t, std::string>, std::vector<int64_t>> got;
  for (const auto& s : p.sample()) {
    std::string frames;
    for (uint64_t id : s.location_id()) frames += outer_name(p, id) + ";";
    got[{num_labels(p, s)["tid"].first, frames}] = {s.value().begin(), s.value().end()};
  }
  int found = 0;
  for (const auto& [k, vals] : got) {
    if (k.second.find("pprof_test_leaf") != std::string::npos && k.first == 7) {
      EXPECT_EQ(vals, (std::vector<int64_t>{3, 30}));
      ++found;
    } else if (k.second.find("pprof_test_leaf") != std::string::npos && k.first == 8) {
      EXPECT_EQ(vals, (std::vector<int64_t>{1, 10}));
      ++found;
    } else if (k.second.find("pprof_test_middle") != std::string::npos && k.first == 7) {
      EXPECT_EQ(vals, (std::vector<int64_t>{1, 10}));
      ++found;
    }
  }
  EXPECT_EQ(found, 3);
  // Shared addresses are one location each: leaf, root, middle.
  EXPECT_EQ(p.location_size(), 3);
}

TEST(ProfileBuilder, DeduplicatesFunctionsAcrossAddresses) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  const uint64_t a1[] = {addr_in(t::pprof_test_root, 1)};
  const uint64_t a2[] = {addr_in(t::pprof_test_root, 2)};
  const int64_t v[] = {1, 1};
  b.add_sample(a1, v);
  b.add_sample(a2, v);
  const Profile p = decode(b, sym);
  ASSERT_EQ(p.location_size(), 2);
  EXPECT_NE(p.location(0).address(), p.location(1).address());
  // Two addresses in one function's body: the outermost frame is one Function.
  const auto& l0 = p.location(0);
  const auto& l1 = p.location(1);
  const auto& r1 = sym.resolve(a1[0]);
  const auto& f1 = r1.frames.back();
  const auto& r2 = sym.resolve(a2[0]);
  const auto& f2 = r2.frames.back();
  const bool same_key = f1.function == f2.function && f1.system_name == f2.system_name &&
                        f1.file == f2.file && f1.start_line == f2.start_line;
  ASSERT_TRUE(same_key) << "symbolizer gave two different functions for one body";
  EXPECT_EQ(l0.line(l0.line_size() - 1).function_id(), l1.line(l1.line_size() - 1).function_id());
  int named_root = 0;
  for (const auto& f : p.function()) {
    if (str(p, f.name()).find("pprof_test_root") != std::string::npos) ++named_root;
  }
  EXPECT_EQ(named_root, 1);
}

TEST(ProfileBuilder, LabelsNumericStringAndDroppedZero) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  const uint64_t stack[] = {addr_in(t::pprof_test_leaf)};
  const int64_t v[] = {1, 1};
  b.add_sample(stack, v,
               {ProfileBuilder::num_label("zero", 0),             // dropped: pprof drops it
                ProfileBuilder::num_label("zero_bytes", 0, "bytes"),  // kept: has a unit
                ProfileBuilder::num_label("bytes", -16),
                ProfileBuilder::str_label("thread_name", "main"),
                ProfileBuilder::num_label("tid", 1234)});
  // Equal once the zero label is gone: merges with the first.
  b.add_sample(stack, v,
               {ProfileBuilder::num_label("tid", 1234),
                ProfileBuilder::num_label("zero_bytes", 0, "bytes"),
                ProfileBuilder::num_label("bytes", -16),
                ProfileBuilder::str_label("thread_name", "main")});
  EXPECT_EQ(b.sample_count(), 1u);
  const Profile p = decode(b, sym);
  ASSERT_EQ(p.sample_size(), 1);
  const auto& s = p.sample(0);
  EXPECT_EQ(s.value(0), 2);
  EXPECT_EQ(string_labels(p, s), (std::map<std::string, std::string>{{"thread_name", "main"}}));
  const auto nums = num_labels(p, s);
  EXPECT_EQ(nums.size(), 3u);
  EXPECT_EQ(nums.count("zero"), 0u);
  EXPECT_EQ(nums.at("zero_bytes"), (std::pair<int64_t, std::string>{0, "bytes"}));
  EXPECT_EQ(nums.at("bytes"), (std::pair<int64_t, std::string>{-16, ""}));
  EXPECT_EQ(nums.at("tid"), (std::pair<int64_t, std::string>{1234, ""}));
}

TEST(ProfileBuilder, SyntheticFrameSample) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  const int64_t v[] = {5, 50};
  b.add_synthetic_sample("[profagent: lost]", v);
  b.add_synthetic_sample("[profagent: lost]", v);
  b.add_synthetic_sample("[profagent: unwind failed]", v, thread_labels(3, "t"));
  const uint64_t stack[] = {addr_in(t::pprof_test_leaf)};
  b.add_sample(stack, v);
  EXPECT_EQ(b.sample_count(), 3u);
  const Profile p = decode(b, sym);
  ASSERT_EQ(p.sample_size(), 3);
  std::map<std::string, int64_t> synthetic;
  for (const auto& s : p.sample()) {
    ASSERT_EQ(s.location_id_size(), 1);
    const auto& l = location(p, s.location_id(0));
    if (l.address() != 0) continue;
    EXPECT_EQ(l.mapping_id(), 0u);
    ASSERT_EQ(l.line_size(), 1);
    const auto& f = function(p, l.line(0).function_id());
    EXPECT_EQ(f.name(), f.system_name());
    EXPECT_EQ(f.filename(), 0);
    synthetic[str(p, f.name())] = s.value(0);
    if (str(p, f.name()) == "[profagent: unwind failed]") {
      EXPECT_EQ(num_labels(p, s)["tid"].first, 3);
    }
  }
  EXPECT_EQ(synthetic, (std::map<std::string, int64_t>{{"[profagent: lost]", 10},
                                                       {"[profagent: unwind failed]", 5}}));
}

TEST(ProfileBuilder, DropsSamplesWithWrongValueCount) {
  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  const uint64_t stack[] = {addr_in(t::pprof_test_leaf)};
  const int64_t one_value[] = {1};
  const int64_t three_values[] = {1, 2, 3};
  b.add_sample(stack, one_value);
  b.add_sample(stack, three_values);
  b.add_synthetic_sample("[x]", one_value);
  EXPECT_EQ(b.sample_count(), 0u);
  EXPECT_EQ(b.dropped_samples(), 3u);
  const Profile p = decode(b, sym);
  EXPECT_EQ(p.sample_size(), 0);
  EXPECT_EQ(p.location_size(), 0);
  EXPECT_EQ(p.function_size(), 0);
  ASSERT_GT(p.mapping_size(), 0);
  EXPECT_EQ(str(p, p.mapping(0).filename()),
            std::filesystem::canonical("/proc/self/exe").string());
  EXPECT_EQ(p.duration_nanos(), 0);  // not set
}

TEST(ProfileBuilder, HeapShapeDefaultSampleTypeAndPeriod) {
  Symbolizer sym;
  ProfileShape heap{{{"alloc_objects", "count"},
                     {"alloc_space", "bytes"},
                     {"inuse_objects", "count"},
                     {"inuse_space", "bytes"}},
                    {"space", "bytes"},
                    524288,
                    "alloc_space"};
  ProfileBuilder b(heap);
  b.set_time(99);
  const uint64_t stack[] = {addr_in(t::pprof_test_middle)};
  const int64_t v[] = {4, 4096, 2, 2048};
  b.add_sample(stack, v, {ProfileBuilder::num_label("bytes", 1024)});
  const Profile p = decode(b, sym);
  EXPECT_EQ(str(p, p.default_sample_type()), "alloc_space");
  EXPECT_EQ(p.period(), 524288);
  EXPECT_EQ(str(p, p.period_type().type()), "space");
  EXPECT_EQ(p.time_nanos(), 99);
  EXPECT_EQ(p.duration_nanos(), 0);
  ASSERT_EQ(p.sample_type_size(), 4);
  EXPECT_EQ(str(p, p.sample_type(3).type()), "inuse_space");
  ASSERT_EQ(p.sample_size(), 1);
  EXPECT_EQ(std::vector<int64_t>(p.sample(0).value().begin(), p.sample(0).value().end()),
            (std::vector<int64_t>{4, 4096, 2, 2048}));
}

// Mapping flags follow what the symbolizer actually found, location by location: an address
// at the executable's end (possibly not in any symbol), and one outside every mapping.
TEST(ProfileBuilder, MappingFlagsMatchSymbolization) {
  Symbolizer sym;
  const auto maps = sym.mappings();
  ASSERT_FALSE(maps.empty());
  ProfileBuilder b(cpu_shape());
  const uint64_t stack[] = {maps[0].limit - 1, addr_in(t::pprof_test_leaf),
                            reinterpret_cast<uint64_t>(&gzip_compress) + 1, 0x10};
  const int64_t v[] = {1, 1};
  b.add_sample(stack, v);
  const Profile p = decode(b, sym);
  ASSERT_EQ(p.location_size(), 4);
  std::map<uint64_t, std::vector<uint64_t>> by_mapping;
  for (const auto& l : p.location()) {
    const ResolvedAddress& r = sym.resolve(l.address());
    EXPECT_EQ(l.mapping_id(), r.mapping_index < 0 ? 0u : static_cast<uint64_t>(r.mapping_index + 1));
    by_mapping[l.mapping_id()].push_back(l.address());
  }
  EXPECT_EQ(location(p, p.sample(0).location_id(3)).mapping_id(), 0u);  // 0x10: no mapping
  for (int i = 0; i < p.mapping_size(); ++i) {
    const auto& m = p.mapping(i);
    const auto it = by_mapping.find(m.id());
    if (it == by_mapping.end()) {
      EXPECT_FALSE(m.has_functions() || m.has_filenames() || m.has_line_numbers() ||
                   m.has_inline_frames());
      continue;
    }
    bool fns = true, fl = true, inl = false;
    for (uint64_t a : it->second) {
      const ResolvedAddress& r = sym.resolve(a);
      fns = fns && r.symbolized;
      fl = fl && r.has_file_line;
      inl = inl || r.frames.size() > 1;
    }
    EXPECT_EQ(m.has_functions(), fns) << "mapping " << m.id();
    EXPECT_EQ(m.has_filenames(), fl);
    EXPECT_EQ(m.has_line_numbers(), fl);
    EXPECT_EQ(m.has_inline_frames(), inl);
  }
}

TEST(Gzip, RoundTripsAndIsGzip) {
  for (size_t n : {size_t{0}, size_t{1}, kGzipStoredBelow - 1, kGzipStoredBelow,
                   size_t{100000}, size_t{3} << 20}) {
    std::string data(n, '\0');
    uint32_t x = 12345;
    for (size_t i = 0; i < n; ++i) {
      x = x * 1103515245 + 12345;
      data[i] = static_cast<char>((i % 3 == 0) ? (x >> 24) : 'a' + i % 5);
    }
    const std::string gz = gzip_compress(data, 1);
    ASSERT_GE(gz.size(), 20u);
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    EXPECT_EQ(gunzip(gz), data) << n;
  }
}

// A small profile (a short process's exit dump) is stored, not compressed: no compressor is
// made for it (the first one in a process costs ~0.5 ms of fresh pages); zlib reads it back
// checking its CRC-32 and size (go tool pprof reads such files in the e2e tests).
TEST(Gzip, SmallInputIsStoredAndReadBack) {
  for (size_t n : {size_t{0}, size_t{3}, size_t{2000}, kGzipStoredBelow - 1}) {
    std::string data(n, 'x');
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<char>(i * 7 + i / 13);
    const std::string gz = gzip_compress(data, 1);
    EXPECT_EQ(gz.size(), 10 + 5 + n + 8) << n;  // header, one stored block, trailer
    EXPECT_EQ(static_cast<unsigned char>(gz[10]), 1);  // BFINAL, BTYPE 00
    EXPECT_EQ(gunzip(gz), data) << n;
  }
  // From the threshold on, compressed.
  std::string repetitive(kGzipStoredBelow, 'a');
  EXPECT_LT(gzip_compress(repetitive, 1).size(), repetitive.size() / 10);
}

// A kept compressor is lent to one caller at a time: callers on several threads at once (the
// dump thread beside the HTTP and push threads), at several levels, each get their own
// input back; a level libdeflate does not have gives "" and no compressor.
TEST(Gzip, ConcurrentCallersAtSeveralLevelsEachGetTheirOwnInputBack) {
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong, &done] {
      for (int round = 0; round < 150; ++round) {
        const int level = (round + t) % 3 == 0 ? 1 : (round + t) % 3 == 1 ? 6 : 12;
        std::string data(kGzipStoredBelow + 997 * ((round * 7 + t) % 23), '\0');
        uint32_t x = static_cast<uint32_t>(t * 1000 + round);
        for (char& c : data) {
          x = x * 1103515245 + 12345;
          c = static_cast<char>(x % 7 == 0 ? (x >> 24) : 'a' + x % 4);
        }
        if (gunzip(gzip_compress(data, level)) != data) ++wrong;
        ++done;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(done.load(), 600);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(gzip_compress("abc", 13), "");
  EXPECT_EQ(gzip_compress("abc", -1), "");
}

// The real reader: go tool pprof (Go 1.19's vendored pprof) must accept the file and show
// the names.
std::string find_go() {
  const char* path = getenv("PATH");
  std::string p = path ? path : "";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    const std::string cand = (end > start ? p.substr(start, end - start) : ".") + "/go";
    if (access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return {};
}

std::pair<int, std::string> run(const std::string& cmd) {
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  const int status = pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ProfileBuilder, GoToolPprofReadsIt) {
  const std::string go = find_go();
  if (go.empty()) GTEST_SKIP() << "go not on PATH";
  char tmpl[] = "/tmp/profagent_pb_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;

  Symbolizer sym;
  ProfileBuilder b(cpu_shape());
  b.set_time(1700000000000000000, 1000000000);
  const uint64_t s1[] = {addr_in(t::pprof_test_leaf), addr_in(t::pprof_test_middle),
                         addr_in(t::pprof_test_root)};
  const uint64_t s2[] = {addr_in(t::pprof_test_middle), addr_in(t::pprof_test_root)};
  const int64_t v1[] = {3, 30000000};
  const int64_t v2[] = {1, 10000000};
  b.add_sample(s1, v1, thread_labels(101, "crunch"));
  b.add_sample(s2, v2, thread_labels(102, "other"));
  b.add_synthetic_sample("[profagent: lost]", v2);
  const std::string path = profile_path(dir, "pbtest", getpid(), 1, "cpu");
  ASSERT_EQ(write_file_atomically(path, b.encode_gzipped(sym)), "");

  const std::string env = "HOME=" + dir + " PPROF_TMPDIR=" + dir + " ";
  const auto [rc_raw, raw] = run(env + go + " tool pprof -raw -symbolize=none " + path);
  EXPECT_EQ(rc_raw, 0) << raw;
  for (const char* want : {"pprof_test_leaf", "pprof_test_middle", "pprof_test_root",
                           "[profagent: lost]", "samples/count", "cpu/nanoseconds",
                           "crunch", "[FN]"}) {
    EXPECT_NE(raw.find(want), std::string::npos) << want << "\n" << raw;
  }
  const auto [rc_top, top] = run(env + go + " tool pprof -top " + path);
  EXPECT_EQ(rc_top, 0) << top;
  for (const char* want : {"pprof_test_leaf", "pprof_test_middle", "[profagent: lost]",
                           "Duration: 1s", "Total samples = 50ms"}) {
    EXPECT_NE(top.find(want), std::string::npos) << want << "\n" << top;
  }
  EXPECT_EQ(top.find("unrecognized"), std::string::npos) << top;
  const auto [rc_tags, tags] = run(env + go + " tool pprof -tags " + path);
  EXPECT_EQ(rc_tags, 0) << tags;
  for (const char* want : {"thread_name", "crunch", "tid", "101"}) {
    EXPECT_NE(tags.find(want), std::string::npos) << want << "\n" << tags;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace profagent
