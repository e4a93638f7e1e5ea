// The reserve the agent's own exceptions fall back on when malloc fails
// (agent/core/exception_reserve.h): fixed slots, zeroed, given back, shared between threads.
#include "agent/core/exception_reserve.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

namespace profagent {
namespace {

TEST(ExceptionReserve, HandsOutEverySlotOnceZeroedAndAlignedThenRefuses) {
  static ExceptionReserve reserve;
  std::set<void*> blocks;
  for (size_t i = 0; i < ExceptionReserve::kSlots; ++i) {
    auto* block = static_cast<unsigned char*>(reserve.take(136));  // a bad_alloc's
    ASSERT_NE(block, nullptr) << i;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(block) % 16, 0u);
    for (size_t b = 0; b < 136; ++b) ASSERT_EQ(block[b], 0) << b;
    memset(block, 0xab, ExceptionReserve::kSlotBytes);  // (a thrown object's bytes)
    blocks.insert(block);
  }
  EXPECT_EQ(blocks.size(), ExceptionReserve::kSlots);
  EXPECT_EQ(reserve.in_use(), ExceptionReserve::kSlots);
  EXPECT_EQ(reserve.take(8), nullptr);  // all in use: the runtime then calls std::terminate

  void* again = *blocks.begin();
  EXPECT_TRUE(reserve.give_back(again));
  auto* reused = static_cast<unsigned char*>(reserve.take(112));  // a dependent exception's
  EXPECT_EQ(reused, again);
  for (size_t b = 0; b < 112; ++b) ASSERT_EQ(reused[b], 0) << b;
  for (void* block : blocks) EXPECT_TRUE(reserve.give_back(block));
  EXPECT_EQ(reserve.in_use(), 0u);
}

TEST(ExceptionReserve, RefusesWhatDoesNotFitAndLeavesOtherMemoryAlone) {
  static ExceptionReserve reserve;
  EXPECT_EQ(reserve.take(ExceptionReserve::kSlotBytes + 1), nullptr);
  void* taken = reserve.take(ExceptionReserve::kSlotBytes);
  EXPECT_NE(taken, nullptr);
  int elsewhere = 0;
  std::vector<char> heap(64);
  EXPECT_FALSE(reserve.give_back(&elsewhere));  // then the caller frees it with free()
  EXPECT_FALSE(reserve.give_back(heap.data()));
  EXPECT_EQ(reserve.in_use(), 1u);
  EXPECT_TRUE(reserve.give_back(taken));
}

TEST(ExceptionReserve, ThreadsTakingAndGivingBackNeverShareASlot) {
  static ExceptionReserve reserve;
  constexpr int kThreads = 8, kRounds = 20000;
  std::vector<std::thread> threads;
  std::atomic<int> shared{0}, refused{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        auto* block = static_cast<unsigned char*>(reserve.take(64));
        if (block == nullptr) {
          refused.fetch_add(1);
          continue;
        }
        // Each holder marks its slot; a slot handed to two threads at once shows the other's
        // mark.
        block[0] = static_cast<unsigned char>(t + 1);
        for (int spin = 0; spin < 50; ++spin) std::atomic_signal_fence(std::memory_order_seq_cst);
        if (block[0] != t + 1) shared.fetch_add(1);
        reserve.give_back(block);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(shared.load(), 0);
  EXPECT_EQ(refused.load(), 0);  // 8 holders at most, 16 slots
  EXPECT_EQ(reserve.in_use(), 0u);
}

}  // namespace
}  // namespace profagent
