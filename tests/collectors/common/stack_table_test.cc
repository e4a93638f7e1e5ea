// The shared stack table behind the heap and contention profiles (collectors/common/stack_table.h)
// and the heap bucket table built on it (collectors/heap/heap_buckets.h).
#include "collectors/common/stack_table.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <thread>
#include <vector>

#include "collectors/heap/heap_buckets.h"

namespace profagent {
namespace {

struct Tally {
  int64_t n;
};

TEST(StackTable, KeyIsStackThreadNameAndExtraWord) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(16));
  uintptr_t a[] = {1, 2, 3};
  auto add = [](Tally& x) { x.n += 1; };
  uint32_t first = t->record(a, 3, "w", 0, 5, add);
  EXPECT_EQ(t->record(a, 3, "w", 0, 5, add), first);
  EXPECT_NE(t->record(a, 3, "w", 1, 5, add), first);   // other extra word
  EXPECT_NE(t->record(a, 3, "x", 0, 5, add), first);   // other thread name
  EXPECT_NE(t->record(a, 2, "w", 0, 5, add), first);   // shorter stack
  EXPECT_NE(first, StackTable<Tally>::kOverflowBucket);
  EXPECT_EQ(t->count(), 5u);  // four keys plus the overflow bucket
  EXPECT_EQ(t->bucket(first).payload.n, 2);
  EXPECT_EQ(t->bucket(first).tid.load(), 5);
}

TEST(StackTable, ThreadNameIsCutAtFifteenCharacters) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(8));
  uintptr_t a = 9;
  auto add = [](Tally& x) { x.n += 1; };
  uint32_t id = t->record(&a, 1, "a-very-long-thread-name-1", 0, 1, add);
  EXPECT_EQ(t->record(&a, 1, "a-very-long-thread-name-2", 0, 1, add), id);
  EXPECT_STREQ(t->bucket(id).key.thread_name, "a-very-long-thr");
}

TEST(StackTable, SecondThreadMarksTheBucketShared) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(8));
  uintptr_t a = 9;
  auto nothing = [](Tally&) {};
  uint32_t id = t->record(&a, 1, "w", 0, 1, nothing);
  t->record(&a, 1, "w", 0, 1, nothing);
  EXPECT_EQ(t->bucket(id).tid.load(), 1);
  t->record(&a, 1, "w", 0, 2, nothing);
  EXPECT_EQ(t->bucket(id).tid.load(), kManyThreads);
}

TEST(StackTable, FullTableAndUninitializedTableUseTheOverflowBucket) {
  auto t = std::make_unique<StackTable<Tally>>();
  uintptr_t pcs[4] = {1, 2, 3, 4};
  auto add = [](Tally& x) { x.n += 1; };
  EXPECT_EQ(t->record(pcs, 1, "w", 0, 1, add), StackTable<Tally>::kOverflowBucket);  // no storage
  ASSERT_TRUE(t->init(3));  // overflow + 2 keys
  EXPECT_EQ(t->record(pcs, 1, "w", 0, 1, add), 1u);
  EXPECT_EQ(t->record(pcs, 2, "w", 0, 1, add), 2u);
  EXPECT_EQ(t->record(pcs, 3, "w", 0, 1, add), StackTable<Tally>::kOverflowBucket);
  EXPECT_EQ(t->record(pcs, 4, "w", 0, 1, add), StackTable<Tally>::kOverflowBucket);
  EXPECT_EQ(t->bucket(0).payload.n, 2);
  EXPECT_EQ(t->record(pcs, 2, "w", 0, 1, add), 2u);  // an existing key still finds its bucket
}

TEST(StackTable, DepthIsClampedAndCopyAndClearWork) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(8));
  std::vector<uintptr_t> deep(kMaxFrames + 10, 7);
  auto add = [](Tally& x) { x.n += 3; };
  uint32_t id = t->record(deep.data(), kMaxFrames + 10, "w", 0, 1, add);
  EXPECT_EQ(t->bucket(id).key.depth, static_cast<uint32_t>(kMaxFrames));
  EXPECT_EQ(t->record(nullptr, -4, "w", 0, 1, add), id + 1);  // negative depth: empty stack
  auto copy = t->copy_locked();
  ASSERT_EQ(copy.size(), 3u);
  EXPECT_EQ(copy[id].payload.n, 3);
  t->clear();
  EXPECT_EQ(t->count(), 1u);
  EXPECT_EQ(t->bucket(0).payload.n, 0);
  EXPECT_EQ(t->record(deep.data(), 3, "w", 0, 1, add), 1u);  // reusable after clear
}

// A table made with wipe_on_fork (the contention profiles') is zero pages in a fork child:
// forget_in_fork_child only resets the lock and the count, and a stack the parent had
// recorded is a new bucket with a fresh payload in the child (not found through a stale
// index slot, as it would be had the kernel not wiped the index).
// The buckets fill downward from the index, so the buckets and index pages a process with few
// stacks uses lie on neighbouring pages (one page table for each fork to copy), not at the two
// ends of the mapping (~38 MiB apart for the heap table's 65,536 buckets).
TEST(StackTable, TheFirstBucketsLieNextToTheIndex) {
  auto t = std::make_unique<StackTable<Tally>>();
  constexpr uint32_t kMax = 65536;
  ASSERT_TRUE(t->init(kMax));
  auto add = [](Tally& x) { x.n += 1; };
  uintptr_t a = 1, b = 2;
  const uint32_t first = t->record(&a, 1, "w", 0, 1, add);
  const uint32_t second = t->record(&b, 1, "w", 0, 1, add);
  const auto at = [&](uint32_t id) { return reinterpret_cast<uintptr_t>(&t->bucket(id)); };
  const size_t size = sizeof(t->bucket(0));
  EXPECT_EQ(at(first), at(0) - size);
  EXPECT_EQ(at(second), at(first) - size);
  // Bucket 0 is the highest: the last bucket of the storage, right below the index, which
  // starts on the next page boundary at the latest.
  EXPECT_EQ(at(kMax - 1), at(0) - (kMax - 1) * size);
  const uintptr_t index_start = (at(0) + size + 4095) & ~uintptr_t{4095};
  EXPECT_LT(index_start - at(second), size_t{3} * 4096);
}

TEST(StackTable, AForkChildForgetsTheParentsStacksFromWipedPages) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(16, /*wipe_on_fork=*/true));
  auto add = [](Tally& x) { x.n += 1; };
  uintptr_t a = 1, b = 2, c = 3;
  t->record(&a, 1, "w", 0, 1, add);
  t->record(&b, 1, "w", 0, 1, add);
  const uint32_t parents_c = t->record(&c, 1, "w", 0, 1, add);
  ASSERT_EQ(parents_c, 3u);
  ASSERT_TRUE(t->wiped_on_fork());  // Linux >= 4.14
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The kernel handed the child zero pages: the parent's bucket is gone before any reset.
    bool ok = t->bucket(parents_c).payload.n == 0 && t->bucket(parents_c).key.depth == 0;
    t->forget_in_fork_child();
    ok = ok && t->count() == 1;
    const uint32_t id = t->record(&c, 1, "w", 0, 1, add);
    ok = ok && id == 1 && t->bucket(id).payload.n == 1 && t->count() == 2;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(t->count(), 4u);  // the parent's table is its own
  EXPECT_EQ(t->bucket(parents_c).payload.n, 1);
}

TEST(StackTable, ConcurrentRecordersLoseNoUpdate) {
  auto t = std::make_unique<StackTable<Tally>>();
  ASSERT_TRUE(t->init(64));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&t, i] {
      for (int k = 0; k < 20000; ++k) {
        uintptr_t pc = static_cast<uintptr_t>(k % 8);
        t->record(&pc, 1, i % 2 ? "odd" : "even", 0, i, [](Tally& x) { x.n += 1; });
      }
    });
  for (auto& th : threads) th.join();
  int64_t total = 0;
  for (const auto& b : t->copy_locked()) total += b.payload.n;
  EXPECT_EQ(total, 4 * 20000);
  EXPECT_EQ(t->count(), 1u + 16u);  // 8 pcs x 2 names
}

TEST(HeapBucketTable, KeysOnSizeClassAndCountsAllocsAndFrees) {
  auto t = std::make_unique<HeapBucketTable>();
  ASSERT_TRUE(t->init(32));
  uintptr_t a[] = {0x10, 0x20};
  uint32_t b100 = t->record_alloc(a, 2, 100, 1, "main");
  EXPECT_EQ(t->record_alloc(a, 2, 110, 1, "main"), b100);  // both in the 112-byte class
  uint32_t b200 = t->record_alloc(a, 2, 200, 1, "main");
  EXPECT_NE(b200, b100);
  t->record_free(b100, 100);
  t->record_free(9999, 1);  // an unknown id is ignored
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_EQ(copy[0].size, 112u);
  EXPECT_EQ(copy[0].allocs, 2u);
  EXPECT_EQ(copy[0].alloc_bytes, 210u);
  EXPECT_EQ(copy[0].frees, 1u);
  EXPECT_EQ(copy[0].free_bytes, 100u);
  EXPECT_EQ(copy[0].stack, std::vector<uintptr_t>({0x10, 0x20}));
  EXPECT_EQ(copy[0].thread_name, "main");
  EXPECT_EQ(copy[1].size, 224u);  // 200 in (128, 256]: steps of 32
  EXPECT_FALSE(copy[0].overflow);
}

TEST(HeapBucketTable, FullTableCountsInTheOverflowBucket) {
  auto t = std::make_unique<HeapBucketTable>();
  ASSERT_TRUE(t->init(2));
  uintptr_t a = 1, b = 2;
  EXPECT_EQ(t->record_alloc(&a, 1, 16, 1, "m"), 1u);
  EXPECT_EQ(t->record_alloc(&b, 1, 16, 1, "m"), HeapBucketTable::kOverflowBucket);
  t->record_free(HeapBucketTable::kOverflowBucket, 16);
  auto copy = t->copy();
  ASSERT_EQ(copy.size(), 2u);
  EXPECT_TRUE(copy[0].overflow);
  EXPECT_EQ(copy[0].allocs, 1u);
  EXPECT_EQ(copy[0].frees, 1u);
}

}  // namespace
}  // namespace profagent
