// The malloc-family semantics over a next allocator and a recorder: realloc between sampled
// and unsampled pointers both ways, every aligned variant, calloc, usable size, and the
// bucket counters they leave.
#include "collectors/heap/heap_alloc.h"
#include "agent/runtime/unwind/unwinder.h"
#include "tests/common/glibc_allocator.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace profagent {
namespace {

class HeapAllocTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unwind_tables_refresh();  // the agent's dump thread does this ~2 ms after start
    rec_ = std::make_unique<HeapRecorder>();
    ASSERT_TRUE(rec_->init(size_t{1} << 30, 1024));
  }
  // Sum of a counter over every bucket.
  uint64_t total(uint64_t HeapBucketCopy::*field) {
    uint64_t sum = 0;
    for (const HeapBucketCopy& b : rec_->buckets().copy()) sum += b.*field;
    return sum;
  }
  void fill(void* p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; ++i) static_cast<unsigned char*>(p)[i] = static_cast<unsigned char>(seed + i);
  }
  bool check(const void* p, size_t n, unsigned char seed) {
    for (size_t i = 0; i < n; ++i)
      if (static_cast<const unsigned char*>(p)[i] != static_cast<unsigned char>(seed + i)) return false;
    return true;
  }
  NextAllocator next_ = testing::glibc_allocator();
  std::unique_ptr<HeapRecorder> rec_;
};

TEST_F(HeapAllocTest, SampledMallocIsCountedAndFreed) {
  void* p = heap_sampled_malloc(next_, *rec_, 1000);
  ASSERT_TRUE(rec_->owns(p));
  EXPECT_GE(heap_usable_size(next_, *rec_, p), 1000u);
  EXPECT_EQ(total(&HeapBucketCopy::allocs), 1u);
  EXPECT_EQ(total(&HeapBucketCopy::alloc_bytes), 1000u);
  errno = 1234;
  heap_free(next_, *rec_, p);
  EXPECT_EQ(errno, 1234);  // free preserves errno
  EXPECT_EQ(total(&HeapBucketCopy::frees), 1u);
  EXPECT_EQ(total(&HeapBucketCopy::free_bytes), 1000u);
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
}

TEST_F(HeapAllocTest, SameSiteAndSizeShareABucket) {
  void* a[10];
  for (auto& p : a) p = heap_sampled_malloc(next_, *rec_, 64);  // one call site
  auto buckets = rec_->buckets().copy();
  ASSERT_EQ(buckets.size(), 1u);
  EXPECT_EQ(buckets[0].allocs, 10u);
  EXPECT_EQ(buckets[0].size, 64u);
  EXPECT_GT(buckets[0].stack.size(), 1u);
  for (auto& p : a) heap_free(next_, *rec_, p);
}

TEST_F(HeapAllocTest, ReallocSampledToSampledKeepsContents) {
  void* p = heap_sampled_malloc(next_, *rec_, 100);
  fill(p, 100, 1);
  void* q = heap_realloc(next_, *rec_, p, 5000, true);
  ASSERT_TRUE(rec_->owns(q));
  EXPECT_TRUE(check(q, 100, 1));
  EXPECT_EQ(total(&HeapBucketCopy::allocs), 2u);
  EXPECT_EQ(total(&HeapBucketCopy::frees), 1u);
  q = heap_realloc(next_, *rec_, q, 10, true);  // shrink
  EXPECT_TRUE(check(q, 10, 1));
  heap_free(next_, *rec_, q);
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
}

TEST_F(HeapAllocTest, ReallocSampledToUnsampled) {
  void* p = heap_sampled_malloc(next_, *rec_, 300);
  fill(p, 300, 7);
  void* q = heap_realloc(next_, *rec_, p, 100000, false);
  ASSERT_NE(q, nullptr);
  EXPECT_FALSE(rec_->owns(q));
  EXPECT_TRUE(check(q, 300, 7));
  EXPECT_EQ(total(&HeapBucketCopy::frees), 1u);  // the sampled object's free is seen
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
  heap_free(next_, *rec_, q);
}

TEST_F(HeapAllocTest, ReallocUnsampledToSampled) {
  void* p = malloc(300);
  fill(p, 300, 9);
  void* q = heap_realloc(next_, *rec_, p, 700, true);
  ASSERT_TRUE(rec_->owns(q));
  EXPECT_TRUE(check(q, 300, 9));
  EXPECT_EQ(total(&HeapBucketCopy::allocs), 1u);
  EXPECT_EQ(total(&HeapBucketCopy::alloc_bytes), 700u);
  heap_free(next_, *rec_, q);
}

TEST_F(HeapAllocTest, ReallocUnsampledToUnsampledStaysWithNext) {
  void* p = malloc(50);
  fill(p, 50, 3);
  void* q = heap_realloc(next_, *rec_, p, 5000, false);
  EXPECT_FALSE(rec_->owns(q));
  EXPECT_TRUE(check(q, 50, 3));
  EXPECT_EQ(total(&HeapBucketCopy::allocs), 0u);
  heap_free(next_, *rec_, q);
}

TEST_F(HeapAllocTest, ReallocEdgeCases) {
  void* p = heap_realloc(next_, *rec_, nullptr, 64, true);  // realloc(NULL, n) = malloc
  ASSERT_TRUE(rec_->owns(p));
  EXPECT_EQ(heap_realloc(next_, *rec_, p, 0, false), nullptr);  // realloc(p, 0) frees
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
  EXPECT_EQ(total(&HeapBucketCopy::frees), 1u);
  void* u = heap_realloc(next_, *rec_, nullptr, 64, false);
  EXPECT_FALSE(rec_->owns(u));
  heap_free(next_, *rec_, u);
  // A failing realloc leaves the old object intact (ENOMEM from the next allocator).
  void* s = heap_sampled_malloc(next_, *rec_, 32);
  fill(s, 32, 5);
  errno = 0;
  EXPECT_EQ(heap_realloc(next_, *rec_, s, SIZE_MAX / 2, false), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  EXPECT_TRUE(check(s, 32, 5));
  heap_free(next_, *rec_, s);
}

TEST_F(HeapAllocTest, SampledCallocZeroesReusedBlocks) {
  void* p = heap_sampled_malloc(next_, *rec_, 256);
  memset(p, 0xff, 256);
  heap_free(next_, *rec_, p);
  auto* q = static_cast<unsigned char*>(heap_sampled_calloc(next_, *rec_, 16, 16));
  ASSERT_EQ(static_cast<void*>(q), p);  // the same block came back
  for (int i = 0; i < 256; ++i) ASSERT_EQ(q[i], 0) << i;
  heap_free(next_, *rec_, q);
  void* overflow = heap_sampled_calloc(next_, *rec_, SIZE_MAX / 2, 4);
  EXPECT_EQ(overflow, nullptr);
}

TEST_F(HeapAllocTest, PosixMemalignEveryAlignment) {
  for (size_t align = sizeof(void*); align <= (size_t{1} << 20); align *= 2) {
    void* p = nullptr;
    ASSERT_EQ(heap_sampled_posix_memalign(next_, *rec_, &p, align, 1000), 0) << align;
    EXPECT_TRUE(rec_->owns(p));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u) << align;
    EXPECT_GE(heap_usable_size(next_, *rec_, p), 1000u);
    memset(p, 1, 1000);
    heap_free(next_, *rec_, p);
  }
  void* p = nullptr;
  EXPECT_EQ(heap_sampled_posix_memalign(next_, *rec_, &p, 24, 100), EINVAL);
  EXPECT_EQ(heap_sampled_posix_memalign(next_, *rec_, &p, 4, 100), EINVAL);
  // Beyond what the region takes: served by the next allocator, still aligned.
  ASSERT_EQ(heap_sampled_posix_memalign(next_, *rec_, &p, size_t{4} << 20, 100), 0);
  EXPECT_FALSE(rec_->owns(p));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (size_t{4} << 20), 0u);
  heap_free(next_, *rec_, p);
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
}

TEST_F(HeapAllocTest, AlignedAllocMemallocVallocPvalloc) {
  struct Case {
    AlignedKind kind;
    size_t align, size, want_align, want_usable;
  } cases[] = {
      {AlignedKind::kAlignedAlloc, 64, 640, 64, 640},
      {AlignedKind::kAlignedAlloc, 4096, 10000, 4096, 10000},
      {AlignedKind::kMemalign, 8, 100, 16, 100},
      {AlignedKind::kMemalign, 256, 33, 256, 33},
      {AlignedKind::kMemalign, 65536, 200000, 65536, 200000},
      {AlignedKind::kValloc, 0, 100, 4096, 100},
      {AlignedKind::kPvalloc, 0, 100, 4096, 4096},
      {AlignedKind::kPvalloc, 0, 0, 4096, 4096},
      {AlignedKind::kPvalloc, 0, 5000, 4096, 8192},
  };
  for (const Case& c : cases) {
    void* p = heap_sampled_aligned(next_, *rec_, c.kind, c.align, c.size);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(rec_->owns(p));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % c.want_align, 0u) << c.align << " " << c.size;
    EXPECT_GE(heap_usable_size(next_, *rec_, p), c.want_usable) << c.size;
    memset(p, 2, c.want_usable);
    heap_free(next_, *rec_, p);
  }
  EXPECT_EQ(rec_->region().stats().live_objects, 0u);
  // A non-power-of-two alignment is left to glibc as it is.
  void* p = heap_sampled_aligned(next_, *rec_, AlignedKind::kMemalign, 48, 100);
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(rec_->owns(p));
  heap_free(next_, *rec_, p);
}

TEST_F(HeapAllocTest, UsableSizeOfEveryKindOfPointer) {
  EXPECT_EQ(heap_usable_size(next_, *rec_, nullptr), 0u);
  void* u = malloc(100);
  EXPECT_EQ(heap_usable_size(next_, *rec_, u), malloc_usable_size(u));
  free(u);
  void* s = heap_sampled_malloc(next_, *rec_, 100);
  size_t n = heap_usable_size(next_, *rec_, s);
  EXPECT_GE(n, 100u);
  EXPECT_LE(n, 160u);
  memset(s, 0, n);
  heap_free(next_, *rec_, s);
}

}  // namespace
}  // namespace profagent
