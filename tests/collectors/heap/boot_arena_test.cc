// The bootstrap arena behind the malloc hooks (collectors/heap/boot_arena.h): blocks, their
// sizes, alignment, zero memory, the bound, and concurrent allocation.
#include "collectors/heap/boot_arena.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

namespace profagent {
namespace {

TEST(BootArena, BlocksAreZeroAlignedSizedAndOwned) {
  alignas(4096) static char memory[64 * 1024];
  BootArena arena(memory, sizeof memory);
  void* a = arena.allocate(100, 16);
  void* b = arena.allocate(1, 64);
  void* c = arena.allocate(5000, 4096);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % 16, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c) % 4096, 0u);
  EXPECT_EQ(BootArena::size_of(a), 100u);
  EXPECT_EQ(BootArena::size_of(b), 1u);
  EXPECT_EQ(BootArena::size_of(c), 5000u);
  EXPECT_GE(static_cast<char*>(b), static_cast<char*>(a) + 100);  // blocks never overlap
  EXPECT_GE(static_cast<char*>(c), static_cast<char*>(b) + 1);
  EXPECT_TRUE(std::all_of(static_cast<char*>(c), static_cast<char*>(c) + 5000,
                          [](char x) { return x == 0; }));
  EXPECT_TRUE(arena.owns(a) && arena.owns(c));
  int elsewhere = 0;
  EXPECT_FALSE(arena.owns(&elsewhere));
  EXPECT_FALSE(arena.owns(nullptr));
  EXPECT_FALSE(arena.owns(memory + sizeof memory));
}

TEST(BootArena, AFullArenaSaysSoAndKeepsWhatItGave) {
  alignas(4096) static char memory[8192];
  BootArena arena(memory, sizeof memory);
  EXPECT_EQ(arena.allocate(sizeof memory + 1, 16), nullptr);  // larger than the arena
  EXPECT_EQ(arena.allocate(16, 8192), nullptr);                // alignment beyond a page
  void* big = arena.allocate(6000, 16);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(arena.allocate(4000, 16), nullptr);  // what is left does not hold it
  void* small = arena.allocate(1000, 16);        // but holds this
  ASSERT_NE(small, nullptr);
  EXPECT_LE(arena.used_bytes(), sizeof memory);
  EXPECT_EQ(BootArena::size_of(big), 6000u);
}

// A start's temporaries (a path built, used and dropped) reuse the same bytes, zeroed; a block
// with another allocated after it stays where it is.
TEST(BootArena, OnlyTheLastBlockIsTakenBackAndItComesBackZeroed) {
  alignas(4096) static char memory[8192];
  BootArena arena(memory, sizeof memory);
  char* kept = static_cast<char*>(arena.allocate(100, 16));
  ASSERT_NE(kept, nullptr);
  const size_t used = arena.used_bytes();
  char* temporary = static_cast<char*>(arena.allocate(300, 16));
  ASSERT_NE(temporary, nullptr);
  memset(temporary, 0x5a, 300);
  arena.release(temporary);
  // Back to the temporary's size word, at most an alignment's padding past `kept`'s end.
  EXPECT_EQ(arena.used_bytes(), static_cast<size_t>(temporary - memory) - sizeof(size_t));
  EXPECT_LT(arena.used_bytes(), used + 16);
  char* again = static_cast<char*>(arena.allocate(200, 16));
  EXPECT_EQ(again, temporary);  // the same bytes
  EXPECT_TRUE(std::all_of(again, again + 200, [](char x) { return x == 0; }));
  EXPECT_EQ(BootArena::size_of(again), 200u);
  // Not the last one: `kept` stays used (a later block lies after it), nothing moves.
  const size_t before = arena.used_bytes();
  memset(kept, 0x33, 100);
  arena.release(kept);
  EXPECT_EQ(arena.used_bytes(), before);
  EXPECT_EQ(kept[99], 0x33);
  char* next = static_cast<char*>(arena.allocate(16, 16));
  EXPECT_GE(next, again + 200);
}

TEST(BootArena, ConcurrentAllocationsAreDisjoint) {
  alignas(4096) static char memory[256 * 1024];
  BootArena arena(memory, sizeof memory);
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::vector<std::pair<char*, size_t>>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        size_t size = 8 + static_cast<size_t>((i * 7 + t) % 90);
        if (void* p = arena.allocate(size, 16)) got[t].emplace_back(static_cast<char*>(p), size);
      }
    });
  for (auto& th : threads) th.join();
  std::vector<std::pair<char*, size_t>> all;
  for (auto& g : got) all.insert(all.end(), g.begin(), g.end());
  ASSERT_EQ(all.size(), size_t{kThreads * kEach});  // 2,000 small blocks fit
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + 1 < all.size(); ++i)
    ASSERT_LE(all[i].first + all[i].second, all[i + 1].first - sizeof(size_t)) << i;
  for (auto& [p, size] : all) EXPECT_EQ(BootArena::size_of(p), size);
}

}  // namespace
}  // namespace profagent
