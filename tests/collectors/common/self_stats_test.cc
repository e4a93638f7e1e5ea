// Unit tests of the self-accounting counters and how they appear in a profile (comments and
// the "[profagent: lost]" sample for kinds other than CPU).
#include "collectors/common/self_stats.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <time.h>

#include <clocale>
#include <cstdio>
#include <string>

#include "agent/profile/pprof/profile_builder.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/cpu/cpu_kind.h"
#include "collectors/heap/heap_kind.h"
#include "collectors/registry.h"

namespace profagent {
namespace {

ProfileBuilder heap_builder() {
  return ProfileBuilder(ProfileShape{{{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                                      {"inuse_objects", "count"}, {"inuse_space", "bytes"}},
                                     {"space", "bytes"}, 524288, ""});
}

// The start reads both clocks with system calls in line (no vDSO page touched by a process
// that ends at once); the times it keeps are the clocks' at that moment.
TEST(SelfStats, TheStartKeepsBothClocksAsTheyWereThen) {
  timespec mono_before, unix_before, mono_after, unix_after;
  clock_gettime(CLOCK_MONOTONIC, &mono_before);
  clock_gettime(CLOCK_REALTIME, &unix_before);
  self_stats_start();
  clock_gettime(CLOCK_MONOTONIC, &mono_after);
  clock_gettime(CLOCK_REALTIME, &unix_after);
  auto nanos = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
  EXPECT_GE(self_stats_start_monotonic_nanos(), nanos(mono_before));
  EXPECT_LE(self_stats_start_monotonic_nanos(), nanos(mono_after));
  EXPECT_GE(self_stats_start_unix_nanos(), nanos(unix_before));
  EXPECT_LE(self_stats_start_unix_nanos(), nanos(unix_after));
}

TEST(SelfStats, CostsAndLostAreCounted) {
  const ProfileKind* mutex[] = {&kMutexKind};
  SelfSnapshot before = self_snapshot(mutex);
  self_add_cost(SelfCost::kCpuHandler, 1500, 3);
  self_add_cost(SelfCost::kDump, 2000000);
  self_note_lost(g_mutex_lost, 4, 9000);
  SelfSnapshot after = self_snapshot(mutex);
  int h = static_cast<int>(SelfCost::kCpuHandler), d = static_cast<int>(SelfCost::kDump);
  EXPECT_EQ(after.cost_nanos[h] - before.cost_nanos[h], 1500);
  EXPECT_EQ(after.cost_events[h] - before.cost_events[h], 3u);
  EXPECT_EQ(after.cost_nanos[d] - before.cost_nanos[d], 2000000);
  ASSERT_EQ(after.lost.size(), 1u);
  EXPECT_EQ(after.lost[0].events - before.lost[0].events, 4u);
  EXPECT_EQ(after.lost[0].weight - before.lost[0].weight, 9000);
  EXPECT_GT(after.process_cpu_nanos, 0);
}

TEST(SelfStats, CommentsNameEveryCostWithUnits) {
  SelfSnapshot s = self_snapshot(all_kinds());
  for (auto& l : s.lost) l.events = l.kind == &kHeapKind ? 7 : 0;
  for (auto& c : s.cost_nanos) c = 0;
  for (auto& c : s.cost_events) c = 0;
  s.cost_nanos[static_cast<int>(SelfCost::kCpuHandler)] = 2500000;
  s.cost_events[static_cast<int>(SelfCost::kCpuHandler)] = 412;
  s.cost_nanos[static_cast<int>(SelfCost::kDump)] = 750;
  s.process_cpu_nanos = 10000000000;
  s.wall_nanos = 12000000000;
  std::vector<std::string> lines = self_comments(s);
  ASSERT_GE(lines.size(), 3u);
  EXPECT_EQ(lines[0], "profagent self: agent=2.50ms (0.025% of process_cpu=10.00s) over "
                      "wall=12.00s since start");
  EXPECT_EQ(lines[1], "profagent self: signal_handler=2.50ms/412 hooks=0ns/0 tick=0ns/0 "
                      "dump=750ns/0 push=0ns/0");
  EXPECT_EQ(lines[2], "profagent lost since start: heap=7 mutex=0 block=0 threads=0");
}

// A program may set a locale whose decimal separator is a comma (coreutils' sort under
// LANG=de_DE.UTF-8 does): the comments keep their decimal point. The locale is compiled with
// localedef (Debian package `locales`) into a temporary directory named by LOCPATH.
TEST(SelfStats, CommentsKeepTheDecimalPointUnderAProgramsLocale) {
  char dir[] = "/tmp/profagent-locale.XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string command = std::string("localedef -i de_DE -f UTF-8 ") + dir +
                        "/de_DE.UTF-8 >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << "localedef (package locales) is required";
  setenv("LOCPATH", dir, 1);
  ASSERT_NE(setlocale(LC_NUMERIC, "de_DE.UTF-8"), nullptr);
  char probe[16];
  snprintf(probe, sizeof probe, "%.1f", 2.5);
  EXPECT_STREQ(probe, "2,5") << "the locale does not use a decimal comma";
  SelfSnapshot s;
  s.cost_nanos[static_cast<int>(SelfCost::kCpuHandler)] = 2500000;
  s.cost_events[static_cast<int>(SelfCost::kCpuHandler)] = 4;
  s.process_cpu_nanos = 10000000000;
  s.wall_nanos = 12500;
  std::vector<std::string> lines = self_comments(s);
  setlocale(LC_NUMERIC, "C");
  unsetenv("LOCPATH");
  std::system((std::string("rm -rf ") + dir).c_str());
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines[0], "profagent self: agent=2.50ms (0.025% of process_cpu=10.00s) over "
                      "wall=12.5us since start");
  EXPECT_EQ(lines[1], "profagent self: signal_handler=2.50ms/4 hooks=0ns/0 tick=0ns/0 "
                      "dump=0ns/0 push=0ns/0");
}

TEST(SelfStats, LostSampleOnlyForItsOwnKind) {
  SelfSnapshot s;
  s.lost = {{&kHeapKind, 7, 7000}, {&kMutexKind, 0, 0}};
  ProfileBuilder heap = heap_builder();
  add_self_accounting(heap, kHeapKind, s);
  EXPECT_EQ(heap.sample_count(), 1u);
  ProfileBuilder cpu(ProfileShape{{{"samples", "count"}, {"cpu", "nanoseconds"}},
                                  {"cpu", "nanoseconds"}, 10000000, ""});
  add_self_accounting(cpu, kCpuKind, s);  // CPU reports its own lost samples
  EXPECT_EQ(cpu.sample_count(), 0u);
  ProfileBuilder mutex(ProfileShape{{{"contentions", "count"}, {"delay", "nanoseconds"}},
                                    {"contentions", "count"}, 1, ""});
  add_self_accounting(mutex, kMutexKind, s);  // nothing lost for mutex
  EXPECT_EQ(mutex.sample_count(), 0u);
}

std::string extra_source() { return "extra line from a subsystem"; }

TEST(SelfStats, RegisteredSourcesAddTheirLine) {
  add_self_comment_source(extra_source);
  add_self_comment_source(extra_source);  // once only
  std::vector<std::string> lines = self_comments(SelfSnapshot{});
  int found = 0;
  for (const auto& l : lines) found += l == "extra line from a subsystem";
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace profagent
