// The sampled-object region: a large PROT_NONE/MAP_NORESERVE virtual reservation of the
// agent's own from which every sampled allocation is served, so `free` decides "was this
// pointer sampled?" with one range compare (no hash lookup, no lock, no shared write).
// HOOK CONTEXT: allocate/release/info run inside malloc hooks — no host allocator, only the
// agent's own spin lock, syscalls mprotect/madvise only (fit_under_address_limit, run by the
// setrlimit hooks, also munmap and sched_yield); errno is preserved by the callers.
//
// Layout: a 16-byte header right before every object records its tag (the heap bucket), its
// requested size, its size class and its distance from the start of its block. Blocks come in
// geometric size classes (16-byte steps up to 128 B, then 4 classes per power of two);
// classes under 64 KiB are carved from chunks (a class's first holds one block, each next one
// twice as many, up to 4 blocks or 64 KiB), larger ones get one page-aligned span each.
// Freed blocks go to their class's free list and are reused; spans of 128 KiB and more give
// their pages back (MADV_DONTNEED) when freed. Memory is committed (mprotect RW) only as the
// bump pointer advances. Bounds: virtual = the reservation; committed = sum over classes of
// that class's peak live blocks (+ one partly used chunk per class); a block wastes at most
// 25% of its size plus the header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "collectors/common/spin_lock.h"

namespace profagent {

class HeapRegion {
 public:
  constexpr HeapRegion() = default;
  HeapRegion(const HeapRegion&) = delete;
  HeapRegion& operator=(const HeapRegion&) = delete;

  // Reserves `bytes` of address space, halving on failure (overcommit policy) down to
  // 1 GiB; under a finite RLIMIT_AS at most 1/64 of the limit, halving down to 1 MiB. Once
  // only; true if a reservation exists. Hook-safe (the first sampled allocation calls it),
  // under the region's lock.
  bool reserve(size_t bytes) noexcept;
  size_t reserved_bytes() const noexcept { return size_.load(std::memory_order_relaxed); }

  // The program set its RLIMIT_AS to `limit_bytes` while it runs, with `mapped_bytes` mapped
  // (VmSize, the reservation included). A limit below that (`ulimit -v` in a shell, Python's
  // resource.setrlimit with an absolute figure) was set without knowing of the reservation,
  // made for the limit at start (up to 256 GiB when there was none), which would fail every
  // later mapping of the program: it is cut to what reserve() would take under that limit,
  // its unused tail unmapped. A limit at or above it (`current + X`) counted the reservation
  // in: it stays mapped (the program keeps the room it would have without the agent), and
  // only its usable part shrinks, to a 64th of the limit less the reservation (sampled
  // objects take no new address space in it: that is how far they can pass the limit). Both:
  // 1 MiB at least, never below what was handed out (objects keep their places), the largest
  // sampled block shrinks with it, and it never grows back. Returns the usable bytes now.
  // HOOK CONTEXT (the setrlimit hooks): no allocation; the region's lock is tried a bounded
  // number of times, once when this thread is inside the agent (a handler's call over its
  // own sampled allocation), and a call that finds it held leaves the reservation as it is.
  size_t fit_under_address_limit(uint64_t limit_bytes, uint64_t mapped_bytes) noexcept;

  // The free-hook test: one subtraction and one compare; false for nullptr and before
  // reserve().
  // (The size first, acquired: a reservation made by another thread's first sample is seen
  // with its base, never a size with the base still 0.)
  bool contains(const void* p) const noexcept {
    const size_t size = size_.load(std::memory_order_acquire);
    return reinterpret_cast<uintptr_t>(p) - base_.load(std::memory_order_relaxed) < size;
  }

  // An object of `size` bytes aligned to `alignment` (a power of two; values under 16 mean
  // 16), or nullptr if the region has no room or the alignment exceeds kMaxAlignment.
  void* allocate(size_t size, size_t alignment, uint32_t tag) noexcept;

  // Sets the tag of a live object (the bucket is known only after the block is placed).
  void set_tag(void* p, uint32_t tag) noexcept;

  struct ObjectInfo {
    bool valid = false;  // false for a pointer that is not a live object (e.g. double free)
    uint32_t tag = 0;
    size_t size = 0;     // as requested
    size_t usable = 0;   // bytes the caller may use (>= size)
  };
  ObjectInfo info(const void* p) const noexcept;

  // Gives an object's block back. Ignores a pointer that is not a live object.
  void release(void* p) noexcept;

  // Fork child: the lock may have been held by a thread that does not exist there.
  void reset_after_fork() noexcept { lock_.reset(); }

  struct Stats {
    size_t reserved = 0;
    size_t committed = 0;     // bytes made RW so far
    size_t live_objects = 0;
    size_t live_bytes = 0;    // requested bytes of live objects
  };
  Stats stats() const noexcept;

  static constexpr size_t kHeaderSize = 16;
  static constexpr size_t kMaxAlignment = size_t{1} << 20;
  static constexpr int kMaxClasses = 8 + 4 * 33;  // blocks up to 2^40 bytes

 private:
  struct ClassState {
    uintptr_t free_head = 0;  // singly linked through each free block's first word
    uintptr_t chunk_next = 0;
    uintptr_t chunk_end = 0;
    unsigned chunks_carved = 0;  // its chunks grow from one block (heap_region.cc chunk_bytes)
  };
  // Makes `bytes` more of the reservation usable; returns its address or 0. Lock held.
  uintptr_t carve(size_t bytes) noexcept;

  // base_ and size_ are read by every free() on every thread: they sit alone in their cache
  // line, so the sampled path's writes (lock, bump, classes, counters) never evict them from
  // another core.
  alignas(64) std::atomic<uintptr_t> base_{0};
  std::atomic<size_t> size_{0};
  alignas(64) SpinLock lock_;
  size_t bump_ = 0;  // offset of the first never-used byte
  std::atomic<size_t> max_block_{0};  // read by allocate() outside the lock
  ClassState classes_[kMaxClasses] = {};
  std::atomic<size_t> committed_{0};
  std::atomic<size_t> live_objects_{0};
  std::atomic<size_t> live_bytes_{0};
};

// Size classes (exposed for tests). class_index(B) is the smallest class holding B bytes.
int heap_class_index(size_t block_bytes) noexcept;
size_t heap_class_size(int index) noexcept;

}  // namespace profagent
