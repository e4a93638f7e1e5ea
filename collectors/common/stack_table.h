// StackTable<Payload>: the bounded, open-addressed table of stack buckets behind the heap and
// contention profiles. A bucket is keyed on (stack, recording thread's name, one extra word —
// the heap's size class, 0 where a table has none) and carries the collector's Payload.
//
// HOOK CONTEXT for record(), bucket(), count() and clear(): no host allocation (storage is
// mmap'ed once by init(), MAP_NORESERVE, touched only as buckets are used, dense in insertion
// order downward from the index: see map_stack_table), only the table's own spin lock, held
// for one hash probe (and, on a new key, one bucket write) plus the payload update. init()
// and copy_locked() are normal context.
//
// Keyed on the thread *name*, not the tid: a program that churns threads (one per request)
// would otherwise fill the table with one bucket per dead thread. A bucket remembers the one
// tid that recorded into it, or kManyThreads once several did. When the table is full, every
// further record goes to bucket 0 (kOverflowBucket), which collectors write as one synthetic
// frame so totals stay honest; bucket 0 is never in the index.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "agent/runtime/unwind/unwinder.h"
#include "collectors/common/spin_lock.h"

namespace profagent {

constexpr int32_t kManyThreads = -1;

// The identity of a bucket.
struct StackKey {
  uint64_t hash;
  uint64_t extra;
  uint32_t depth;
  char thread_name[16];
  uintptr_t pcs[kMaxFrames];
};

struct StackTableMemory {
  void* buckets = nullptr;
  uint32_t* index = nullptr;
  uint32_t index_mask = 0;
  bool wiped_on_fork = false;  // MADV_WIPEONFORK took on the mapping
};

// Maps `max_buckets` buckets and a power-of-two index of at least 2 * max_buckets uint32
// slots, in one MAP_NORESERVE mapping (zero pages; the index starts on a page of its own,
// right after the buckets, which fill downward from it: bucket id i is the i-th below the
// index, so the few buckets and index pages a process uses lie together, in one page table
// that each fork of a shell copies and its child's exec frees, not at both ends of ~38 MiB);
// with `wipe_on_fork`, a fork child gets them as zero pages (MADV_WIPEONFORK, Linux >= 4.14)
// instead of copies. Returns false (and maps nothing) if it fails. Normal context.
bool map_stack_table(size_t bucket_size, uint32_t max_buckets, bool wipe_on_fork,
                     StackTableMemory* out) noexcept;

// Hash of a bucket key. HOOK CONTEXT, pure arithmetic.
inline uint64_t hash_stack_key(const uintptr_t* pcs, int depth, const char (&name)[16],
                               uint64_t extra) noexcept {
  uint64_t name_bits[2];
  memcpy(name_bits, name, sizeof name_bits);
  uint64_t h = 0xcbf29ce484222325ULL ^ extra ^ (name_bits[0] * 0x9e3779b97f4a7c15ULL) ^ name_bits[1];
  for (int i = 0; i < depth; ++i) {
    h ^= pcs[i];
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

template <class Payload>
class StackTable {
 public:
  static constexpr uint32_t kOverflowBucket = 0;

  struct Bucket {
    StackKey key;
    std::atomic<int32_t> tid;
    Payload payload;
  };

  // A plain copy of one bucket (copy_locked(); Payload must be trivially copyable there).
  struct BucketCopy {
    StackKey key;
    int32_t tid;
    Payload payload;
  };

  constexpr StackTable() = default;
  StackTable(const StackTable&) = delete;
  StackTable& operator=(const StackTable&) = delete;

  // Maps the storage (idempotent; at least 2 buckets). False if mmap fails. `wipe_on_fork`:
  // for a table a fork child forgets (forget_in_fork_child), so the child is handed zero
  // pages instead of copying them when it wipes them.
  bool init(uint32_t max_buckets, bool wipe_on_fork = false) noexcept {
    if (buckets_top_ != nullptr) return true;
    if (max_buckets < 2) max_buckets = 2;
    StackTableMemory memory;
    if (!map_stack_table(sizeof(Bucket), max_buckets, wipe_on_fork, &memory)) return false;
    SpinGuard guard(lock_);
    // Zero pages: every counter starts at 0. Bucket id i sits i below the top (at()).
    buckets_top_ = static_cast<Bucket*>(memory.buckets) + max_buckets;
    index_ = memory.index;
    wiped_on_fork_ = memory.wiped_on_fork;
    max_buckets_ = max_buckets;
    index_mask_ = memory.index_mask;
    count_.store(1, std::memory_order_release);
    return true;
  }
  bool initialized() const noexcept { return buckets_top_ != nullptr; }
  // Whether a fork child gets the storage as zero pages (init's wipe_on_fork took).
  bool wiped_on_fork() const noexcept { return wiped_on_fork_; }

  // Finds or adds the bucket of (pcs[0..depth), thread_name, extra) and calls
  // update(payload) on it under the table lock. Returns the bucket id (kOverflowBucket when
  // the table is full or not initialized — then update runs on bucket 0 if it exists).
  template <class Update>
  uint32_t record(const uintptr_t* pcs, int depth, const char* thread_name, uint64_t extra,
                  int32_t tid, Update&& update) noexcept {
    if (buckets_top_ == nullptr) return kOverflowBucket;
    if (depth > kMaxFrames) depth = kMaxFrames;
    if (depth < 0) depth = 0;
    char name[16] = {};
    if (thread_name != nullptr) strncpy(name, thread_name, sizeof name - 1);
    const uint64_t h = hash_stack_key(pcs, depth, name, extra);
    const size_t stack_bytes = sizeof(uintptr_t) * static_cast<size_t>(depth);
    SpinGuard guard(lock_);
    uint32_t id = kOverflowBucket;
    for (uint32_t slot = static_cast<uint32_t>(h) & index_mask_;; slot = (slot + 1) & index_mask_) {
      const uint32_t v = index_[slot];
      if (v == 0) {
        const uint32_t n = count_.load(std::memory_order_relaxed);
        if (n >= max_buckets_) break;  // full: overflow bucket
        Bucket& b = at(n);
        b.key.hash = h;
        b.key.extra = extra;
        b.key.depth = static_cast<uint32_t>(depth);
        memcpy(b.key.thread_name, name, sizeof name);
        memcpy(b.key.pcs, pcs, stack_bytes);
        b.tid.store(tid, std::memory_order_relaxed);
        new (&b.payload) Payload{};  // a bucket reused after clear() starts from zero
        index_[slot] = n + 1;
        count_.store(n + 1, std::memory_order_release);  // publishes the key for readers
        id = n;
        break;
      }
      Bucket& b = at(v - 1);
      if (b.key.hash == h && b.key.extra == extra && b.key.depth == static_cast<uint32_t>(depth) &&
          memcmp(b.key.thread_name, name, sizeof name) == 0 &&
          memcmp(b.key.pcs, pcs, stack_bytes) == 0) {
        if (b.tid.load(std::memory_order_relaxed) != tid)
          b.tid.store(kManyThreads, std::memory_order_relaxed);
        id = v - 1;
        break;
      }
    }
    update(at(id).payload);
    return id;
  }

  // Buckets in use, including bucket 0; the keys of [0, count()) are published (acquire).
  uint32_t count() const noexcept { return count_.load(std::memory_order_acquire); }
  uint32_t max_buckets() const noexcept { return max_buckets_; }
  Bucket& bucket(uint32_t id) noexcept { return at(id); }
  const Bucket& bucket(uint32_t id) const noexcept { return at(id); }

  // Every bucket, copied under the lock into memory allocated before taking it (a host
  // thread may be spinning on the lock meanwhile). Normal context.
  std::vector<BucketCopy> copy_locked() const {
    std::vector<BucketCopy> out;
    if (buckets_top_ == nullptr) return out;
    out.resize(count());
    SpinGuard guard(lock_);
    uint32_t n = count_.load(std::memory_order_relaxed);
    if (n < out.size()) out.resize(n);  // clear() ran in between (fork child only)
    for (size_t id = 0; id < out.size(); ++id) {
      const Bucket& b = at(id);
      memcpy(&out[id].key, &b.key, sizeof b.key);
      out[id].tid = b.tid.load(std::memory_order_relaxed);
      out[id].payload = b.payload;
    }
    return out;
  }

  // Fork child: the thread that may have held the lock is gone. Async-signal-safe.
  void reset_lock() noexcept { lock_.reset(); }

  // Forgets every bucket (fork child: async-signal-safe; the lock is re-made first).
  void clear() noexcept {
    lock_.reset();
    if (buckets_top_ == nullptr) return;
    memset(index_, 0, sizeof(uint32_t) * (static_cast<size_t>(index_mask_) + 1));
    new (&at(kOverflowBucket).payload) Payload{};
    count_.store(1, std::memory_order_release);
  }

  // clear() in a fork child (only there: ASYNC-SIGNAL-SAFE). Where the kernel wiped the
  // storage at the fork, it is all zeros already (also what a parent thread was writing):
  // only the lock and the count are set, so the child copies none of the index's pages.
  void forget_in_fork_child() noexcept {
    if (!wiped_on_fork_) {
      clear();
      return;
    }
    lock_.reset();
    count_.store(1, std::memory_order_release);
  }

 private:
  Bucket& at(uint32_t id) noexcept { return buckets_top_[-1 - static_cast<ptrdiff_t>(id)]; }
  const Bucket& at(uint32_t id) const noexcept {
    return buckets_top_[-1 - static_cast<ptrdiff_t>(id)];
  }

  Bucket* buckets_top_ = nullptr;  // one past bucket 0, the lowest address of the index
  uint32_t* index_ = nullptr;  // bucket id + 1, 0 = empty
  uint32_t max_buckets_ = 0;
  uint32_t index_mask_ = 0;
  bool wiped_on_fork_ = false;
  std::atomic<uint32_t> count_{0};
  mutable SpinLock lock_;
};

}  // namespace profagent
