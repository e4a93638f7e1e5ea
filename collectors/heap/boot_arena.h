// The bootstrap arena: a fixed block of zero memory handed out by bumping one atomic offset.
// Only the last block handed out is ever taken back (release: a temporary freed before
// anything else was allocated); free keeps every other block, realloc moves them out. The
// malloc hooks serve from it what must not, or need not, reach the real allocator yet:
//   - dlsym's allocations while the real allocator is being looked up (heap_hooks.cc);
//   - the agent's own allocations until the program's first allocation looks the real
//     allocator up: its start and libstdc++'s static initializers (the 71 KiB exception
//     pool). A program that never allocates (`true`, `test`, most of a shell script's
//     children) then never starts the C library's allocator for the agent: no heap set up
//     (brk, a tcache, getrandom), ~15 us per process. (The ten real functions are still
//     looked up at the agent's first allocation, on the start's normal stack: heap_hooks.cc.)
// Each block is preceded by its size (one word), 16-byte aligned at least.
// A start builds and drops many small temporaries (paths, build ids): taken back, they reuse
// the same bytes, and the start writes one page of the arena instead of three (each a fault).
// HOOK CONTEXT: lock-free (one compare-and-swap per block), no system call.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace profagent {

class BootArena {
 public:
  constexpr BootArena(char* memory, size_t bytes) noexcept : memory_(memory), bytes_(bytes) {}
  BootArena(const BootArena&) = delete;
  BootArena& operator=(const BootArena&) = delete;

  // A zeroed block of `size` bytes aligned to `alignment` (16 at least, 4096 at most), or
  // nullptr once the arena cannot hold it.
  void* allocate(size_t size, size_t alignment) noexcept {
    if (alignment < 16) alignment = 16;
    if (size > bytes_ || alignment > 4096) return nullptr;
    size_t used = used_.load(std::memory_order_relaxed);
    for (;;) {
      size_t start = (used + sizeof(size_t) + alignment - 1) & ~(alignment - 1);
      size_t end = start + size;
      if (end > bytes_) return nullptr;
      // (acquire: a block taken back was zeroed before release() published it.)
      if (used_.compare_exchange_weak(used, end, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        memcpy(memory_ + start - sizeof(size_t), &size, sizeof(size_t));
        return memory_ + start;  // zero memory (a block taken back was zeroed): calloc-ready
      }
    }
  }

  // Takes back the block at `p` (one of this arena's) if it is still the last one handed
  // out: zeroed, its bytes go to the next allocation. Any other block stays used (a block
  // allocated since, by any thread, keeps it in place).
  void release(void* p) noexcept {
    const size_t size = size_of(p);
    const size_t header = static_cast<size_t>(static_cast<char*>(p) - memory_) - sizeof(size_t);
    size_t end = header + sizeof(size_t) + size;
    if (used_.load(std::memory_order_relaxed) != end) return;
    memset(memory_ + header, 0, sizeof(size_t) + size);
    used_.compare_exchange_strong(end, header, std::memory_order_release,
                                  std::memory_order_relaxed);
  }

  bool owns(const void* p) const noexcept {
    return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(memory_) < bytes_;
  }

  // The size a block was allocated with.
  static size_t size_of(const void* p) noexcept {
    size_t size;
    memcpy(&size, static_cast<const char*>(p) - sizeof(size_t), sizeof(size_t));
    return size;
  }

  size_t used_bytes() const noexcept { return used_.load(std::memory_order_relaxed); }

 private:
  char* const memory_;
  const size_t bytes_;
  std::atomic<size_t> used_{0};
};

}  // namespace profagent
