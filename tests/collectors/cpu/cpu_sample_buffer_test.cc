// CpuSampleBuffer: samples from several threads come out of drain() exactly once with their
// counts, and draining an idle buffer touches none of the tables' pages.
#include "collectors/cpu/cpu_sample_buffer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <map>
#include <thread>
#include <vector>

namespace profagent {
namespace {

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

TEST(CpuSampleBuffer, DrainReturnsEverySampleOnceWithItsCount) {
  static CpuSampleBuffer buffer;
  ASSERT_TRUE(buffer.init());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
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

TEST(CpuSampleBuffer, DrainingAnIdleBufferTouchesNoPage) {
  static CpuSampleBuffer buffer;
  ASSERT_TRUE(buffer.init());
  long before = minor_faults();
  for (int i = 0; i < 10; ++i) {
    buffer.drain([](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
  }
  // A full scan of the two tables would fault in ~1000 pages.
  EXPECT_LT(minor_faults() - before, 20);
  uintptr_t pc = 0x42;
  ASSERT_TRUE(buffer.add(1, &pc, 1));
  buffer.clear();
  buffer.drain([](int32_t, const uintptr_t*, uint32_t, uint64_t) { ADD_FAILURE(); });
}

}  // namespace
}  // namespace profagent
