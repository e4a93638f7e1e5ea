// Unit test of the push thread (pusher.h) with the real libcurl transport against a loopback
// Pyroscope stand-in (tests/e2e/support/ingest_receiver.h): the name and window of each
// request, the kind's sample_type_config, and a cumulative kind turned into per-window
// deltas (counters subtracted, levels kept) while a window kind goes as it is.
#include "agent/output/push/pusher.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <iostream>
#include <thread>

#include "collectors/common/collector.h"
#include "agent/profile/pprof/profile_builder.h"
#include "agent/profile/pprof/symbolized_profile.h"
#include "agent/output/push/sample_type_config.h"
#include "collectors/cpu/cpu_kind.h"
#include "collectors/heap/heap_kind.h"
#include "profile.pb.h"
#include "tests/e2e/support/ingest_receiver.h"

namespace profagent {
namespace {

// A one-sample profile of `kind` (its collector's shape) with `values`, symbolized with
// every address named "work", as the dump hands it to the push.
SymbolizedProfile profile_of(const ProfileKind& kind, const std::vector<int64_t>& values,
                             int64_t time_nanos) {
  ProfileBuilder b(shape_of(kind, 1));
  b.set_time(time_nanos);
  const uint64_t stack[] = {0x1000};
  b.add_sample(stack, values);
  static const ResolvedAddress* work = [] {
    auto* r = new ResolvedAddress;
    r->frames.emplace_back().function = "work";
    return r;
  }();
  return symbolize_profile(std::move(b), {},
                           [](uint64_t) -> const ResolvedAddress& { return *work; });
}

// Pushes a profile as the dump does: the file's bytes and the profile.
void push(const ProfileKind& kind, const std::vector<int64_t>& values, int64_t time_nanos) {
  SymbolizedProfile p = profile_of(kind, values, time_nanos);
  std::string gz = gzip_compress(p.encode(), 1);
  push_profile(kind, std::move(gz), time_nanos, std::move(p));
}

bool gunzip(const std::string& in, std::string* out) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out->append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  return rc == Z_STREAM_END;
}

// The multipart part `name` of a request body.
std::string part(const e2e::SeenRequest& r, const std::string& name) {
  size_t at = r.body.find("name=\"" + name + "\"");
  if (at == std::string::npos) return "";
  size_t start = r.body.find("\r\n\r\n", at) + 4;
  size_t end = r.body.find("\r\n--", start);
  return r.body.substr(start, end - start);
}

std::vector<int64_t> values_of(const e2e::SeenRequest& r) {
  std::string raw;
  pprof::Profile p;
  if (!gunzip(part(r, "profile"), &raw) || !p.ParseFromString(raw)) return {};
  std::vector<int64_t> out;
  for (const pprof::Sample& s : p.sample())
    for (int64_t v : s.value()) out.push_back(v);
  return out;
}

std::vector<e2e::SeenRequest> wait_for(e2e::IngestReceiver& receiver, size_t n) {
  for (int i = 0; i < 200; ++i) {
    std::vector<e2e::SeenRequest> seen = receiver.requests();
    if (seen.size() >= n) return seen;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return receiver.requests();
}

void sends_each_dump_with_its_window_and_deltas() {
  e2e::IngestReceiver receiver(e2e::IngestReceiver::Mode::kOk);
  Config config;
  config.push_url = receiver.url();
  config.app_name = "unit.app";
  config.tags = {{"env", "test"}};
  EXPECT_FALSE(push_enabled());
  push_start(config, "ignored-exe");
  ASSERT_TRUE(push_enabled());

  const int64_t s = 1000000000;
  push(kHeapKind, {10, 1000, 4, 400}, 1700000010 * s);
  std::vector<e2e::SeenRequest> seen = wait_for(receiver, 1);
  ASSERT_EQ(seen.size(), 1u) << "is libcurl installed (libcurl4)?";
  push(kHeapKind, {15, 1500, 6, 600}, 1700000020 * s);
  push(kCpuKind, {3, 30000000}, 1700000021 * s);
  seen = wait_for(receiver, 3);
  ASSERT_EQ(seen.size(), 3u);

  for (const e2e::SeenRequest& r : seen) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/ingest");
    EXPECT_EQ(r.query.at("name"), "unit.app{env=test}");
    EXPECT_EQ(r.query.at("format"), "pprof");
  }
  // The first heap profile has no baseline: its counters go as they are.
  EXPECT_EQ(values_of(seen[0]), (std::vector<int64_t>{10, 1000, 4, 400}));
  EXPECT_EQ(part(seen[0], "sample_type_config"), sample_type_config_json(kHeapKind));
  // The second: alloc_* minus the first, inuse_* (levels) as they are; its window starts
  // where the first ended.
  EXPECT_EQ(values_of(seen[1]), (std::vector<int64_t>{5, 500, 6, 600}));
  EXPECT_EQ(seen[1].query.at("from"), "1700000010");
  EXPECT_EQ(seen[1].query.at("until"), "1700000020");
  // A window kind goes as it is, with its own config.
  EXPECT_EQ(values_of(seen[2]), (std::vector<int64_t>{3, 30000000}));
  EXPECT_EQ(part(seen[2], "sample_type_config"), sample_type_config_json(kCpuKind));
  EXPECT_EQ(seen[2].query.at("until"), "1700000021");

  auto start = std::chrono::steady_clock::now();
  push_flush_at_exit();  // nothing queued: returns at once
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
}

// Runs `body` in a death-test child and exits 0, or 1 after printing its failures to stderr
// (gtest reports nothing of a child's own failures otherwise).
[[noreturn]] void exit_with_failures_of(void (*body)()) {
  testing::TestPartResultArray failures;
  {
    testing::ScopedFakeTestPartResultReporter keep(
        testing::ScopedFakeTestPartResultReporter::INTERCEPT_ALL_THREADS, &failures);
    body();
  }
  for (int i = 0; i < failures.size(); ++i) std::cerr << failures.GetTestPartResult(i);
  _exit(failures.size() == 0 ? 0 : 1);
}

// The push path is set up once per process (push_start), so the test runs in a child of its
// own (re-executed, not forked from the threads of this one): every run, --gtest_repeat's
// too, starts with no push state. The child's failures show in this test's failure message.
TEST(Pusher, SendsEachDumpWithItsWindowAndDeltasOfCumulativeKinds) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(exit_with_failures_of(sends_each_dump_with_its_window_and_deltas),
              testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace profagent
