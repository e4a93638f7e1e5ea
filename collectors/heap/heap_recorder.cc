// Sampled heap objects (see heap_recorder.h). HOOK CONTEXT except configure().
#include "collectors/heap/heap_recorder.h"

#include "agent/core/cost_clock.h"

#include <cerrno>

#include "agent/core/clock.h"
#include "agent/core/log.h"
#include "agent/core/fork_gate.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/hook_guard.h"
#include "collectors/common/self_stats.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/signal_stack_room.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/core/wakeup.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "collectors/heap/heap_kind.h"
#include "agent/core/code_layout.h"

namespace profagent {

constinit HeapRecorder g_heap_recorder;

PROFAGENT_START_PATH
void HeapRecorder::configure(size_t region_bytes, uint32_t max_buckets) noexcept {
  region_bytes_ = region_bytes;
  max_buckets_ = max_buckets;
  int unconfigured = kUnconfigured;
  state_.compare_exchange_strong(unconfigured, kConfigured, std::memory_order_release);
}

PROFAGENT_SAMPLE_PATH
bool HeapRecorder::init(size_t region_bytes, uint32_t max_buckets) noexcept {
  AgentScope scope;
  const int saved_errno = errno;
  // The region first: the bucket table is then mapped next to the collectors' other tables
  // with the same protection and flags (the threads snapshotter's), which the kernel joins
  // into one mapping (one fewer for every fork of a shell to copy), not on the far side of
  // the region's reservation.
  const bool made = region_.reserve(region_bytes) && buckets_.init(max_buckets);
  if (made) state_.store(kReady, std::memory_order_release);
  errno = saved_errno;
  return made;
}

PROFAGENT_SAMPLE_PATH bool HeapRecorder::ready_for_samples() noexcept {
  int state = state_.load(std::memory_order_acquire);
  if (state == kReady) return true;
  if (state != kConfigured ||
      !state_.compare_exchange_strong(state, kPreparing, std::memory_order_acq_rel))
    return false;
  if (init(region_bytes_, max_buckets_)) return true;
  state_.store(kFailed, std::memory_order_release);
  // Once per process, and its samples are counted as lost (the heap file says how many).
  log_warning_direct("heap profile off: cannot reserve address space for sampled objects");
  return false;
}

PROFAGENT_SAMPLE_PATH void* HeapRecorder::allocate(size_t size, size_t alignment) noexcept {
  if (!ready_for_samples()) {
    self_note_lost(g_heap_lost, 1, static_cast<int64_t>(size));
    return nullptr;
  }
  // A program handler on a small altstack that allocates: too little room for this path's
  // 64-frame array and the walk, so the sample is given up (counted) before either is on
  // the stack; the caller serves the allocation unsampled.
  StackRoom room = current_stack_room();
  if (room.bytes < kRoomForHookSample) {
    self_note_lost(g_heap_lost, 1, static_cast<int64_t>(size));
    return nullptr;
  }
  SamplingSignalHeldOnAltstack hold(room);
  void* p = allocate_walked(size, alignment);
  // (A deferred dump thread: see kSamplesBeforeOffer.)
  const bool tables_lack = unknown_pc_noted();
  if (count_sample() >= kSamplesBeforeOffer || tables_lack)
    offer_point_for_dump_thread(nullptr, tables_lack);
  return p;
}

uint32_t HeapRecorder::count_sample() noexcept {
  const uint64_t tag = static_cast<uint32_t>(fork_generation());
  uint64_t old = samples_since_start_.load(std::memory_order_relaxed);
  if ((old >> 32) == tag && static_cast<uint32_t>(old) != UINT32_MAX)
    return static_cast<uint32_t>(samples_since_start_.fetch_add(1, std::memory_order_relaxed) + 1);
  // A new generation's first sample (or a full count): starts it anew, unless another
  // thread's sample just did.
  samples_since_start_.compare_exchange_strong(old, (tag << 32) | 1, std::memory_order_relaxed);
  return 1;
}

PROFAGENT_SAMPLE_PATH __attribute__((noinline)) void* HeapRecorder::allocate_walked(
    size_t size, size_t alignment) noexcept {
  AgentScope scope;
  int saved_errno = errno;
  uint64_t start = cost_clock_now();  // self-accounting: the sampled slow path's cost
  uintptr_t pcs[kMaxFrames];
  int depth = unwind_from_hook(pcs, kMaxFrames);  // 0: no stack (no room for the walk)
  void* p = depth > 0 ? region_.allocate(size, alignment, HeapBucketTable::kOverflowBucket)
                      : nullptr;
  if (p == nullptr) {
    // No stack, or the region cannot hold it (full, or an alignment above its limit): the
    // caller falls back to the next allocator and this sample is lost; the heap file says
    // how many.
    self_note_lost(g_heap_lost, 1, static_cast<int64_t>(size));
  } else {
    char name[16];
    current_thread_name(name);
    uint32_t id = buckets_.record_alloc(pcs, depth, size, static_cast<int32_t>(current_tid()), name);
    region_.set_tag(p, id);
  }
  self_add_cost_ticks(SelfCost::kHooks, cost_clock_now() - start);
  errno = saved_errno;
  return p;
}

PROFAGENT_SAMPLE_PATH void HeapRecorder::free(void* p) noexcept {
  AgentScope scope;
  int saved_errno = errno;
  HeapRegion::ObjectInfo info = region_.info(p);
  if (info.valid) {
    buckets_.record_free(info.tag, info.size);
    region_.release(p);
  }
  errno = saved_errno;
}

size_t HeapRecorder::usable_size(const void* p) const noexcept {
  HeapRegion::ObjectInfo info = region_.info(p);
  return info.valid ? info.usable : 0;
}

}  // namespace profagent
