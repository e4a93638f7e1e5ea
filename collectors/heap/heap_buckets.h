// Heap profile buckets: one per (stack, size class, allocating thread's name) in a
// StackTable, with Go's four raw counters (allocs, alloc_bytes, frees, free_bytes).
// HOOK CONTEXT for record_alloc/record_free: no host allocation (storage is mmap'ed once at
// init), the table's own spin lock for lookup, insertion and the two additions; counters are
// atomics, read without the lock. copy() is normal context.
//
// Bound: at most max_buckets buckets (default 65536) of ~600 bytes each, plus a 2x
// open-addressing index of uint32; storage is reserved MAP_NORESERVE and touched only as
// buckets are used (dense, in insertion order), so memory grows with distinct sites: ~38 MiB
// virtual and at most that resident at the bound. When the table is full, further samples go
// to bucket 0, written as one synthetic frame so totals stay honest.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "collectors/common/stack_table.h"

namespace profagent {

// Go's four raw counters of one heap bucket (updated under the table lock, read without it).
struct HeapCounters {
  std::atomic<uint64_t> allocs;
  std::atomic<uint64_t> alloc_bytes;
  std::atomic<uint64_t> frees;
  std::atomic<uint64_t> free_bytes;
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
  static constexpr uint32_t kOverflowBucket = StackTable<HeapCounters>::kOverflowBucket;
  static constexpr uint32_t kDefaultMaxBuckets = 65536;

  constexpr HeapBucketTable() = default;

  // Maps the storage. Once; normal context. False if mmap fails.
  bool init(uint32_t max_buckets = kDefaultMaxBuckets) noexcept { return table_.init(max_buckets); }

  // Counts one sampled allocation; returns the bucket id to store with the object.
  uint32_t record_alloc(const uintptr_t* pcs, int depth, uint64_t size, int32_t tid,
                        const char* thread_name) noexcept;
  // Counts the free of a sampled object of `size` bytes recorded in bucket `id`.
  void record_free(uint32_t id, uint64_t size) noexcept;

  std::vector<HeapBucketCopy> copy() const;
  uint32_t bucket_count() const noexcept { return table_.count(); }
  uint32_t max_buckets() const noexcept { return table_.max_buckets(); }

  void reset_after_fork() noexcept { table_.reset_lock(); }

 private:
  StackTable<HeapCounters> table_;
};

}  // namespace profagent
