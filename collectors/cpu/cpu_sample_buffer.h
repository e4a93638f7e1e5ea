// The fixed-size, allocation-free structure the SIGPROF handler writes CPU samples into
// (after gperftools' profiledata.h). SIGNAL CONTEXT for add(): lock-free, no allocation,
// bounded work; a full table counts the sample as lost instead of blocking. The dump thread
// drains it in normal context.
//
// Two tables of kEntries stacks each, mmap'ed once, when first needed: by the first sample's
// handler, or by prepare() on the dump thread, so a process that never takes a sample (most
// of a shell script's) maps none (two system calls and a mapping fewer at its start and
// exit). Entries are claimed densely (a bump
// counter), so a table's resident pages grow with its distinct stacks, a new page is first
// touched by a write (no zero-page copy-on-write and TLB shoot-down in the handler), and
// drain() and clear() visit only the claimed prefix: an idle process's drain touches no page
// of the tables. The dump thread touches a table's pages ahead of its use (the first table's
// index and first entries after start, prepare(); the other's at the first drain, then
// twice what the last period used, before a drain makes it the active one; nothing in a
// fork child, whose first samples fault their pages in), so a handler seldom takes a page
// fault (~5-15 us in a VM) on a new entry. An open-addressed index of entry numbers
// (16 KiB per table) finds a stack already recorded.
// Writers add to the active table; drain() flips the active table, waits for writers still
// inside the old one (bounded), then reads and clears it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

class CpuSampleBuffer {
 public:
  static constexpr uint32_t kEntries = 4096;   // distinct (tid, stack) per table
  static constexpr uint32_t kMaxProbes = 32;
  // Entries of the first table prepare() makes resident.
  static constexpr uint32_t kTouchedAtStart = 16;

  struct Entry {
    std::atomic<uint32_t> state;  // kEmpty, kWriting, kReady
    int32_t tid;
    uint32_t depth;
    uint32_t pad;
    uint64_t hash;
    std::atomic<uint64_t> count;
    uintptr_t pcs[kMaxFrames];
  };

  // Maps the tables now (else the first add() or prepare() does). SIGNAL-SAFE; returns false
  // if the memory cannot be had.
  bool init() noexcept;
  // Whether the tables are mapped. SIGNAL-SAFE.
  bool mapped() const noexcept { return mapping() != nullptr; }
  // Maps the tables if need be and makes the first table's index and first entries resident
  // (see above). Normal context (the dump thread, once, after start); handlers may already be
  // writing.
  void prepare() noexcept;

  // Records `weight` samples of one stack. SIGNAL-SAFE. Returns false when the table is full
  // (the samples are lost).
  bool add(int32_t tid, const uintptr_t* pcs, uint32_t depth, uint64_t weight = 1) noexcept;

  // A quarter of a table's entries are claimed: its samples should be drained before long
  // (a deferred dump thread is needed, agent/dump_thread.h). SIGNAL-SAFE.
  bool filling() const noexcept {
    return claimed_count_[0].load(std::memory_order_relaxed) >= kEntries / 4 ||
           claimed_count_[1].load(std::memory_order_relaxed) >= kEntries / 4;
  }

  // Nothing recorded since the last drain (no entry claimed, even one being written).
  // SIGNAL-SAFE.
  bool empty() const noexcept {
    return claimed_count_[0].load(std::memory_order_acquire) == 0 &&
           claimed_count_[1].load(std::memory_order_acquire) == 0;
  }

  // Calls fn(tid, pcs, depth, count) for every stack recorded since the last drain, then
  // clears them. Normal context; one drainer at a time.
  void drain(const std::function<void(int32_t, const uintptr_t*, uint32_t, uint64_t)>& fn);

  // Forgets everything, in a fork child (where MADV_WIPEONFORK made the tables zero pages:
  // only the counts and the index are reset; without it every claimed entry is emptied).
  // Only when no handler can run concurrently.
  void clear() noexcept;

 private:
  static constexpr uint32_t kEmpty = 0, kWriting = 1, kReady = 2;
  // Visits the claimed entries of table `t` (all entries if the count cannot be trusted),
  // then empties the table and its index.
  template <typename Fn>
  void for_each_claimed(int t, bool full_scan, Fn&& fn);
  // Makes the pages of table t's index and of its first `entries` entries resident. Normal
  // context; handlers may be writing into the table (every touch is an atomic no-op).
  void touch_ahead(int t, uint32_t entries) noexcept;

  static constexpr size_t kTableBytes = sizeof(Entry) * kEntries + sizeof(uint32_t) * kEntries;
  // Table t of the mapping at `map` (nullptr while none is), and its index (entry number + 1,
  // 0 = free) right after its entries.
  static Entry* table(char* map, int t) noexcept {
    return map == nullptr ? nullptr : reinterpret_cast<Entry*>(map + t * kTableBytes);
  }
  static std::atomic<uint32_t>* index(char* map, int t) noexcept {
    return map == nullptr ? nullptr
                          : reinterpret_cast<std::atomic<uint32_t>*>(table(map, t) + kEntries);
  }
  char* mapping() const noexcept { return map_.load(std::memory_order_acquire); }

  std::atomic<char*> map_{nullptr};  // both tables; published once, never unmapped
  std::atomic<uint32_t> claimed_count_[2] = {0, 0};       // entries claimed, in order
  uint32_t touched_[2] = {0, 0};  // entries whose pages touch_ahead made resident
  bool index_resident_[2] = {false, false};
  // MADV_WIPEONFORK took: a fork child's tables are zero (set by the init() that mapped them).
  std::atomic<bool> wiped_on_fork_{false};
  std::atomic<int> active_{0};
  std::atomic<int> writers_[2] = {0, 0};
};

}  // namespace profagent
