// CpuSampleBuffer: samples from several threads come out of drain() exactly once with their
// counts, draining an idle buffer touches none of the tables' pages, and new entries take no
// page fault in the handler while they stay within what the dump thread touched ahead.
#include "collectors/cpu/cpu_sample_buffer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <thread>
#include <vector>

namespace profagent {
namespace {

long minor_faults() {  // of this thread only
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_minflt;
}

// A buffer of its own for each test, every --gtest_repeat round too. Never destroyed, as the
// agent's is not (its tables stay mapped: a handler may still be writing into them).
CpuSampleBuffer& fresh_buffer() { return *new CpuSampleBuffer; }

TEST(CpuSampleBuffer, DrainReturnsEverySampleOnceWithItsCount) {
  CpuSampleBuffer& buffer = fresh_buffer();
  ASSERT_TRUE(buffer.init());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&buffer, t] {
      for (int i = 0; i < 1000; ++i) {
        uintptr_t pcs[3] = {0x1000u + static_cast<uintptr_t>(i % 10), 0x2000, 0x3000};
        ASSERT_TRUE(buffer.add(100 + t, pcs, 3));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::map<std::pair<int32_t, uintptr_t>, uint64_t> seen;
  uint64_t total = 0;
  buffer.drain([&](int32_t tid, const uintptr_t* pcs, uint32_t depth, uint64_t count) {
    EXPECT_EQ(depth, 3u);
    seen[{tid, pcs[0]}] += count;
    total += count;
  });
  EXPECT_EQ(total, 4000u);
  EXPECT_EQ(seen.size(), 40u);
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 100u);
  // The other table now; then nothing is left in either.
  uintptr_t pc = 0x42;
  ASSERT_TRUE(buffer.add(7, &pc, 1, 5));
  total = 0;
  buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t count) { total += count; });
  EXPECT_EQ(total, 5u);
  buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
  buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
}

// Nothing is mapped until a sample needs the tables: draining or clearing a buffer that never
// took one maps nothing, and the first add() maps them (as a handler would) and records.
TEST(CpuSampleBuffer, TheFirstSampleMapsTheTables) {
  CpuSampleBuffer& buffer = fresh_buffer();
  buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
  buffer.clear();
  EXPECT_FALSE(buffer.mapped()) << "the tables were mapped without a sample";
  uintptr_t pcs[2] = {0x1234, 0x5678};
  ASSERT_TRUE(buffer.add(9, pcs, 2, 3));
  EXPECT_TRUE(buffer.mapped()) << "the first sample mapped nothing";
  uint64_t total = 0;
  buffer.drain([&](int32_t tid, const uintptr_t* got, uint32_t depth, uint64_t count) {
    EXPECT_EQ(tid, 9);
    EXPECT_EQ(depth, 2u);
    EXPECT_EQ(got[1], 0x5678u);
    total += count;
  });
  EXPECT_EQ(total, 3u);
}

// The agent's start maps the tables and touches none of their pages: the dump thread does
// (prepare), so a process that ends at once never faults them in.
TEST(CpuSampleBuffer, InitTouchesNoTablePage) {
  CpuSampleBuffer& buffer = fresh_buffer();
  long before = minor_faults();
  ASSERT_TRUE(buffer.init());
  EXPECT_LE(minor_faults() - before, 1);  // touching the index and 16 entries: 7 pages
  before = minor_faults();
  buffer.prepare();
  EXPECT_GE(minor_faults() - before, 5);
}

TEST(CpuSampleBuffer, DrainingAnIdleBufferTouchesNoPage) {
  CpuSampleBuffer& buffer = fresh_buffer();
  ASSERT_TRUE(buffer.init());
  long before = minor_faults();
  for (int i = 0; i < 10; ++i) {
    buffer.drain([](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
  }
  // A full scan of the two tables would fault in ~1000 pages; flipping to the other table
  // would touch its 16 KiB index (4 pages). With nothing claimed a drain does neither.
  EXPECT_LE(minor_faults() - before, 2);
  uintptr_t pc = 0x42;
  ASSERT_TRUE(buffer.add(1, &pc, 1));
  buffer.clear();
  buffer.drain([](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
}

// Adds `count` distinct full-depth stacks (each one a new entry) and returns the page faults
// taken meanwhile.
long faults_adding_distinct_stacks(CpuSampleBuffer& buffer, int count, uintptr_t seed) {
  uintptr_t pcs[kMaxFrames];
  for (int f = 0; f < kMaxFrames; ++f) pcs[f] = 0x1000 + f;
  long before = minor_faults();
  for (int i = 0; i < count; ++i) {
    pcs[0] = seed + i;
    if (!buffer.add(1, pcs, kMaxFrames)) ADD_FAILURE() << "entry " << i << " lost";
  }
  return minor_faults() - before;
}

TEST(CpuSampleBuffer, NewEntriesTakeNoPageFaultWithinWhatWasTouchedAhead) {
  CpuSampleBuffer& buffer = fresh_buffer();
  ASSERT_TRUE(buffer.init());
  buffer.prepare();  // the dump thread's first work
  // Each entry is ~0.5 KiB: 16 entries span 3 pages, 80 entries 11.
  EXPECT_LE(faults_adding_distinct_stacks(buffer, CpuSampleBuffer::kTouchedAtStart, 0x10000), 1);
  faults_adding_distinct_stacks(buffer, 40 - CpuSampleBuffer::kTouchedAtStart, 0x20000);
  uint64_t drained = 0;
  buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t n) { drained += n; });
  EXPECT_EQ(drained, 40u);
  // This period used 40 entries: the next table has room for 80 without a fault.
  EXPECT_LE(faults_adding_distinct_stacks(buffer, 80, 0x30000), 1);
}

// After a fork the parent's touched pages stay its own (MADV_WIPEONFORK): its next entries
// take no copy-on-write fault while the child lives, and the child starts with empty tables
// without faulting any of their pages in.
TEST(CpuSampleBuffer, AForkLeavesTheParentsTouchedPagesPrivateAndTheChildsTablesEmpty) {
  CpuSampleBuffer& buffer = fresh_buffer();
  ASSERT_TRUE(buffer.init());
  buffer.prepare();
  faults_adding_distinct_stacks(buffer, 2, 0x40000);  // entries 0-1: the first page written
  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    long before = minor_faults();
    buffer.clear();  // as the agent's fork handler does: touches no table page ahead
    long clear_faults = minor_faults() - before;
    uint64_t seen = 0;
    buffer.drain([&](int32_t, const uintptr_t*, uint32_t, uint64_t n) { seen += n; });
    char go;
    // Its own first writes after the fork (the buffer object's counters, this stack, the
    // fault count's own page) take 1-3 copy-on-write faults; the tables' index alone is 8
    // pages and would add them all.
    (void)!write(from_child[1], seen != 0 ? "1" : clear_faults > 4 ? "2" : "0", 1);
    (void)!read(to_child[0], &go, 1);  // alive (sharing what it shares) until the parent is done
    _exit(0);
  }
  char child_saw;
  ASSERT_EQ(read(from_child[0], &child_saw, 1), 1);
  EXPECT_NE(child_saw, '1') << "the child's tables held the parent's samples";
  EXPECT_NE(child_saw, '2') << "the child's clear() faulted pages in (an exec'ing child pays)";
  // Entries 2-5 lie on the page the parent wrote before the fork, their index slots on pages
  // prepare() wrote. The first one takes the copy-on-write faults of ordinary memory the
  // child shares (the buffer object's counters, this thread's stack); the next three take
  // none. Without MADV_WIPEONFORK the table and index pages would add theirs.
  faults_adding_distinct_stacks(buffer, 1, 0x50000);
  EXPECT_EQ(faults_adding_distinct_stacks(buffer, 3, 0x50100), 0);
  ASSERT_EQ(write(to_child[1], "x", 1), 1);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace profagent
