// Sampled heap objects: the process-wide pair of region (where sampled objects live) and
// bucket table (what they count toward). HOOK CONTEXT for allocate/free/usable_size/owns:
// they unwind (agent/runtime/unwind, no host allocation), take only the agent's own spin locks, and run
// under AgentScope so anything nested passes straight through to the real allocator.
#pragma once

#include <atomic>

#include <cstddef>
#include <cstdint>

#include "agent/core/fork_reset.h"
#include "collectors/heap/heap_buckets.h"
#include "collectors/heap/heap_region.h"

namespace profagent {

class HeapRecorder {
 public:
  constexpr HeapRecorder() = default;

  // At the agent's start: what the first sample reserves and maps (the region and the bucket
  // table), in hook context, so that a process that never takes a sample (most of a shell
  // script's) makes neither (three system calls and two mappings fewer at its start and
  // exit). Normal context.
  void configure(size_t region_bytes, uint32_t max_buckets) noexcept;
  // Reserves the region and maps the bucket table now (idempotent). Hook-safe.
  bool init(size_t region_bytes, uint32_t max_buckets) noexcept;

  // The free-hook test.
  bool owns(const void* p) const noexcept { return region_.contains(p); }

  // A sampled allocation: unwinds the caller, counts it in its bucket, places it in the
  // region. nullptr (nothing counted) if the region has no room: the caller then serves the
  // request from the real allocator, unsampled.
  void* allocate(size_t size, size_t alignment) noexcept;
  // Frees a pointer for which owns() is true; preserves errno.
  void free(void* p) noexcept;
  // Bytes usable at p (owns(p) must be true); 0 for a pointer that is not live.
  size_t usable_size(const void* p) const noexcept;

  // No allocation was ever counted: the bucket table was never made (the first sample makes
  // it) or holds only its overflow bucket. The table is read only once made: a process that
  // never took a sample touches only the recorder's first bytes (code_layout.ld).
  bool counted_nothing() const noexcept {
    return state_.load(std::memory_order_acquire) != kReady || buckets_.bucket_count() <= 1;
  }

  HeapBucketTable& buckets() noexcept { return buckets_; }
  HeapRegion& region() noexcept { return region_; }
  void reset_after_fork() noexcept {
    // A thread that was reserving them at the fork is gone, perhaps halfway through the
    // bucket table's fields: the child takes no heap sample (each counted as lost).
    if (state_.load(std::memory_order_relaxed) == kPreparing) state_.store(kFailed);
    region_.reset_after_fork();
    buckets_.reset_after_fork();
    // (The samples since the fork count anew by themselves: samples_since_start_.)
  }

 private:
  // A deferred dump thread (agent/dump_thread.h) is offered the point of a sampled
  // allocation from the kSamplesBeforeOffer-th sample after the fork (or start) on (a child that
  // allocates a lot lives on; one sample is often a shell child's single opendir buffer just
  // before its exec), or at once when a walk met a module the unwind tables lack.
  static constexpr uint32_t kSamplesBeforeOffer = 3;
  // The fork generation that counted (fork_gate.h, low 32 bits, in the high 32) and its
  // samples so far (low 32): a fork child's first sample starts its own count, and its fork
  // handler writes nothing here (that write copied a page of the parent's in every child of
  // a shell that sampled).
  std::atomic<uint64_t> samples_since_start_{0};
  // Counts a sample of this process's; returns its samples so far. Hook-safe: no system call
  // (a getpid here cost every sampled allocation ~140 ns).
  uint32_t count_sample() noexcept;

  // allocate() with room on the stack checked: walks and records.
  void* allocate_walked(size_t size, size_t alignment) noexcept;
  // The region and the table are there, made now by the first sample if need be (one
  // thread makes them; a sample meanwhile on another thread, or in a signal handler over
  // the making, finds them not ready). Hook-safe.
  bool ready_for_samples() noexcept;

  enum State : int { kUnconfigured, kConfigured, kPreparing, kReady, kFailed };
  std::atomic<int> state_{kUnconfigured};
  size_t region_bytes_ = 0;    // (written by configure before the rate lets hooks sample)
  uint32_t max_buckets_ = 0;

  HeapRegion region_;
  HeapBucketTable buckets_;
};

// The process's recorder, used by the malloc hooks and the heap collector.
extern constinit HeapRecorder g_heap_recorder;

}  // namespace profagent
