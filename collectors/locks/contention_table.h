// Bounded aggregate of contention events for the block and mutex profiles: one StackTable
// bucket per (stack, thread name) holding a float count and a delay in ns (Go's bucket:
// count float64, cycles).
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

#include "collectors/common/stack_table.h"

namespace profagent {

struct ContentionBucketCopy {
  std::vector<uintptr_t> stack;  // leaf first
  int32_t tid = 0;  // kManyThreads: several threads of that name
  std::string thread_name;
  bool overflow = false;         // the "table full" bucket
  double count = 0;
  int64_t delay = 0;
};

// Go's block/mutex bucket values (count float64, delay in ns); guarded by the table lock.
struct ContentionCounters {
  double count;
  int64_t delay;
};

class ContentionTable {
 public:
  static constexpr uint32_t kOverflowBucket = StackTable<ContentionCounters>::kOverflowBucket;
  static constexpr uint32_t kDefaultMaxBuckets = 4096;

  constexpr ContentionTable() = default;

  // Maps the storage (idempotent). Normal context. False if mmap fails.
  // A fork child forgets the parent's events, so its storage is wiped at the fork.
  bool init(uint32_t max_buckets = kDefaultMaxBuckets) noexcept {
    return table_.init(max_buckets, /*wipe_on_fork=*/true);
  }
  bool initialized() const noexcept { return table_.initialized(); }

  // Adds (count, delay) to the bucket of (pcs[0..depth), thread name); the bucket keeps the
  // tid while only one thread recorded into it.
  void record(const uintptr_t* pcs, int depth, int32_t tid, const char* thread_name, double count,
              int64_t delay) noexcept;

  // Every non-empty bucket. Normal context (allocates outside the lock).
  std::vector<ContentionBucketCopy> copy() const;

  // Forgets every event (async-signal-safe, the lock is re-made); in a fork child, without
  // copying the pages the kernel wiped at the fork.
  void clear() noexcept { table_.clear(); }
  void forget_in_fork_child() noexcept { table_.forget_in_fork_child(); }

  uint32_t bucket_count() const noexcept { return table_.count(); }

 private:
  StackTable<ContentionCounters> table_;
};

}  // namespace profagent
