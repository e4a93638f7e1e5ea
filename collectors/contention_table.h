// Bounded aggregate of contention events for the block and mutex profiles: one bucket per
// (stack, thread name) holding a float count and a delay in ns (Go's bucket: count float64, cycles).
// HOOK CONTEXT for record(): no host allocation (storage is mmap'ed once by init()), only the
// table's own spin lock, held for a hash probe and two additions; callers hold AgentScope so
// a signal handler on the same thread never re-enters it. copy() and init() are normal
// context: copy() holds the lock only while copying raw buckets.
//
// Bound: max_buckets (default 4096) buckets of ~560 bytes, mapped MAP_NORESERVE and touched
// only as used (~2.3 MiB at the bound), plus a 2x open-addressing index. When full, events go
// to bucket 0, written as one synthetic frame so totals stay honest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "agent/unwind/unwinder.h"
#include "collectors/heap_spinlock.h"

namespace profagent {

constexpr int32_t kManyContentionThreads = -1;

struct ContentionBucketCopy {
  std::vector<uintptr_t> stack;  // leaf first
  int32_t tid = 0;  // kManyContentionThreads: several threads of that name
  std::string thread_name;
  bool overflow = false;         // the "table full" bucket
  double count = 0;
  int64_t delay = 0;
};

class ContentionTable {
 public:
  static constexpr uint32_t kOverflowBucket = 0;
  static constexpr uint32_t kDefaultMaxBuckets = 4096;

  constexpr ContentionTable() = default;
  ContentionTable(const ContentionTable&) = delete;
  ContentionTable& operator=(const ContentionTable&) = delete;

  // Maps the storage (idempotent). Normal context. False if mmap fails.
  bool init(uint32_t max_buckets = kDefaultMaxBuckets) noexcept;
  bool initialized() const noexcept { return buckets_ != nullptr; }

  // Adds (count, delay) to the bucket of (pcs[0..depth), thread name). Keyed on the name, not
  // the tid, so a program that churns threads does not fill the table with dead threads; the
  // bucket keeps the tid while only one thread recorded into it.
  void record(const uintptr_t* pcs, int depth, int32_t tid, const char* thread_name, double count,
              int64_t delay) noexcept;

  // Every non-empty bucket. Normal context (allocates after releasing the lock).
  std::vector<ContentionBucketCopy> copy() const;

  // Forgets every event (fork child: async-signal-safe, the lock is re-made).
  void clear() noexcept;

  uint32_t bucket_count() const noexcept { return count_; }

 private:
  struct Bucket {
    uint64_t hash;
    int32_t tid;  // kManyContentionThreads once threads of the same name share the bucket
    uint32_t depth;
    char thread_name[16];
    double count;
    int64_t delay;
    uintptr_t pcs[kMaxFrames];
  };

  Bucket* buckets_ = nullptr;
  uint32_t* index_ = nullptr;  // bucket id + 1, 0 = empty
  uint32_t max_buckets_ = 0;
  uint32_t index_mask_ = 0;
  uint32_t count_ = 0;         // buckets in use including bucket 0; guarded by lock_
  mutable HeapSpinLock lock_;  // the heap profiler's agent-only test-and-set lock
};

}  // namespace profagent
