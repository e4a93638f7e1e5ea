// Heap profile buckets: one per (stack, size class, allocating thread's name), with Go's four raw
// counters
// (allocs, alloc_bytes, frees, free_bytes). HOOK CONTEXT for record_alloc/record_free: no
// host allocation (storage is mmap'ed once at init), the agent's own spin lock for lookup and
// insertion only, counters are atomics. copy() is normal context.
//
// Bound: at most max_buckets buckets (default 65536) of sizeof(HeapBucket) (~570 bytes) each,
// plus a 2x open-addressing index of uint32; storage is reserved MAP_NORESERVE and touched
// only as buckets are used (dense, in insertion order), so memory grows with distinct sites:
// ~37 MiB virtual and at most ~38 MiB resident at the bound. When the table is full, further
// samples go to bucket 0, written as one synthetic frame so totals stay honest.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/unwind/unwinder.h"
#include "collectors/heap_spinlock.h"

namespace profagent {

// Keyed on the thread *name*, not the tid: a program that churns threads (one per request)
// would otherwise fill the table with one bucket per dead thread. The tid label stays exact
// where it is known: a bucket remembers the one tid that allocated into it, or kManyThreads.
constexpr int32_t kManyThreads = -1;

struct HeapBucket {
  uint64_t hash;
  uint64_t size;
  std::atomic<int32_t> tid;
  uint32_t depth;
  char thread_name[16];
  std::atomic<uint64_t> allocs;
  std::atomic<uint64_t> alloc_bytes;
  std::atomic<uint64_t> frees;
  std::atomic<uint64_t> free_bytes;
  uintptr_t pcs[kMaxFrames];
};

// A consistent-enough copy for writing (frees read before allocs, so frees <= allocs).
struct HeapBucketCopy {
  std::vector<uintptr_t> stack;  // leaf first
  uint64_t size = 0;
  int32_t tid = 0;          // kManyThreads when several threads allocated here
  std::string thread_name;
  bool overflow = false;  // the "table full" bucket
  uint64_t allocs = 0, alloc_bytes = 0, frees = 0, free_bytes = 0;
};

class HeapBucketTable {
 public:
  static constexpr uint32_t kOverflowBucket = 0;
  static constexpr uint32_t kDefaultMaxBuckets = 65536;

  constexpr HeapBucketTable() = default;
  HeapBucketTable(const HeapBucketTable&) = delete;
  HeapBucketTable& operator=(const HeapBucketTable&) = delete;

  // Maps the storage. Once; normal context. False if mmap fails.
  bool init(uint32_t max_buckets = kDefaultMaxBuckets) noexcept;
  bool initialized() const noexcept { return buckets_ != nullptr; }

  // Counts one sampled allocation; returns the bucket id to store with the object.
  uint32_t record_alloc(const uintptr_t* pcs, int depth, uint64_t size, int32_t tid,
                        const char* thread_name) noexcept;
  // Counts the free of a sampled object of `size` bytes recorded in bucket `id`.
  void record_free(uint32_t id, uint64_t size) noexcept;

  std::vector<HeapBucketCopy> copy() const;
  uint32_t bucket_count() const noexcept { return count_.load(std::memory_order_acquire); }
  uint32_t max_buckets() const noexcept { return max_buckets_; }

  void reset_after_fork() noexcept { lock_.reset(); }

 private:
  HeapBucket* buckets_ = nullptr;
  uint32_t* index_ = nullptr;  // bucket id + 1, 0 = empty
  uint32_t max_buckets_ = 0;
  uint32_t index_mask_ = 0;
  std::atomic<uint32_t> count_{0};  // buckets in use, including the overflow bucket
  HeapSpinLock lock_;
};

}  // namespace profagent
