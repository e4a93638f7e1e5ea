// The C allocation API on top of the next allocator (glibc's, or whatever the program uses)
// and the sampled-object recorder: what each malloc-family hook does once the sampler has
// decided, including realloc between sampled and unsampled pointers both ways and every
// aligned variant. HOOK CONTEXT: no allocation of its own, errno as the C functions define.
// Kept apart from the interposers (heap_hooks.cc) so unit tests can drive it with any
// allocator and any recorder.
#pragma once

#include <cstddef>

#include "collectors/heap/heap_recorder.h"

namespace profagent {

// The allocator below us (what dlsym(RTLD_NEXT, ...) finds: agent/core/next_symbol.h).
// noexcept as glibc declares them: a noexcept hook can then tail-call them.
struct NextAllocator {
  void* (*malloc)(size_t) noexcept;
  void (*free)(void*) noexcept;
  void* (*calloc)(size_t, size_t) noexcept;
  void* (*realloc)(void*, size_t) noexcept;
  int (*posix_memalign)(void**, size_t, size_t) noexcept;
  void* (*aligned_alloc)(size_t, size_t) noexcept;
  void* (*memalign)(size_t, size_t) noexcept;
  void* (*valloc)(size_t) noexcept;
  void* (*pvalloc)(size_t) noexcept;
  size_t (*malloc_usable_size)(void*) noexcept;
};

enum class AlignedKind { kAlignedAlloc, kMemalign, kValloc, kPvalloc };

// Sampled allocations: placed in the recorder's region, or served by `next` unsampled when
// the region cannot take them (full, alignment too large, invalid arguments).
void* heap_sampled_malloc(const NextAllocator& next, HeapRecorder& rec, size_t size) noexcept;
void* heap_sampled_calloc(const NextAllocator& next, HeapRecorder& rec, size_t count,
                          size_t size) noexcept;
int heap_sampled_posix_memalign(const NextAllocator& next, HeapRecorder& rec, void** out,
                                size_t alignment, size_t size) noexcept;
void* heap_sampled_aligned(const NextAllocator& next, HeapRecorder& rec, AlignedKind kind,
                           size_t alignment, size_t size) noexcept;

// realloc with C semantics for any pointer (sampled, unsampled, null) and any size; `sample`
// is the sampler's decision for the new size.
void* heap_realloc(const NextAllocator& next, HeapRecorder& rec, void* p, size_t size,
                   bool sample) noexcept;

// free / malloc_usable_size for any pointer.
inline void heap_free(const NextAllocator& next, HeapRecorder& rec, void* p) noexcept {
  if (__builtin_expect(rec.owns(p), 0)) {
    rec.free(p);
    return;
  }
  next.free(p);
}
size_t heap_usable_size(const NextAllocator& next, HeapRecorder& rec, void* p) noexcept;

// Bytes a request stands for in the sampler (what Go calls the allocation size): the
// requested size; pvalloc's rounded size.
size_t heap_pvalloc_size(size_t size) noexcept;

}  // namespace profagent
