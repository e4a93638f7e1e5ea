// The C allocation API over the next allocator and the sampled-object recorder (see
// heap_alloc.h). HOOK CONTEXT.
#include "collectors/heap/heap_alloc.h"

#include "agent/core/sample_path.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace profagent {
namespace {

constexpr size_t kPage = 4096;

bool power_of_two(size_t a) { return a != 0 && (a & (a - 1)) == 0; }

}  // namespace

size_t heap_pvalloc_size(size_t size) noexcept {
  if (size == 0) return kPage;
  if (size > SIZE_MAX - kPage) return size;  // overflow; callers leave it to next.pvalloc
  return (size + kPage - 1) & ~(kPage - 1);
}

PROFAGENT_SAMPLE_PATH
void* heap_sampled_malloc(const NextAllocator& next, HeapRecorder& rec, size_t size) noexcept {
  void* p = rec.allocate(size, 16);
  return p != nullptr ? p : next.malloc(size);
}

void* heap_sampled_calloc(const NextAllocator& next, HeapRecorder& rec, size_t count,
                          size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) return next.calloc(count, size);
  void* p = rec.allocate(total, 16);
  if (p == nullptr) return next.calloc(count, size);
  memset(p, 0, total);
  return p;
}

int heap_sampled_posix_memalign(const NextAllocator& next, HeapRecorder& rec, void** out,
                                size_t alignment, size_t size) noexcept {
  if (!power_of_two(alignment) || alignment % sizeof(void*) != 0 ||
      alignment > HeapRegion::kMaxAlignment)
    return next.posix_memalign(out, alignment, size);  // EINVAL, or too large for the region
  void* p = rec.allocate(size, alignment);
  if (p == nullptr) return next.posix_memalign(out, alignment, size);
  *out = p;
  return 0;
}

void* heap_sampled_aligned(const NextAllocator& next, HeapRecorder& rec, AlignedKind kind,
                           size_t alignment, size_t size) noexcept {
  size_t bytes = size;
  switch (kind) {
    case AlignedKind::kValloc:
      alignment = kPage;
      break;
    case AlignedKind::kPvalloc:
      alignment = kPage;
      if (size > SIZE_MAX - kPage) return next.pvalloc(size);  // overflow: its ENOMEM
      bytes = heap_pvalloc_size(size);
      break;
    case AlignedKind::kAlignedAlloc:
    case AlignedKind::kMemalign:
      break;
  }
  void* p = nullptr;
  // Alignments glibc treats specially (not a power of two: rounded or rejected depending on
  // the function and version) or too large for the region go to the next allocator as-is.
  if (power_of_two(alignment) && alignment <= HeapRegion::kMaxAlignment)
    p = rec.allocate(bytes, alignment);
  if (p != nullptr) return p;
  switch (kind) {
    case AlignedKind::kAlignedAlloc: return next.aligned_alloc(alignment, size);
    case AlignedKind::kMemalign: return next.memalign(alignment, size);
    case AlignedKind::kValloc: return next.valloc(size);
    case AlignedKind::kPvalloc: return next.pvalloc(size);
  }
  return nullptr;
}

void* heap_realloc(const NextAllocator& next, HeapRecorder& rec, void* p, size_t size,
                   bool sample) noexcept {
  if (p == nullptr) return sample ? heap_sampled_malloc(next, rec, size) : next.malloc(size);
  bool ours = rec.owns(p);
  if (!ours && !sample) return next.realloc(p, size);
  if (size == 0) {
    // glibc: realloc(p, 0) frees p and returns NULL.
    if (ours) {
      rec.free(p);
      return nullptr;
    }
    return next.realloc(p, 0);
  }
  size_t old_usable;
  if (ours) {
    old_usable = rec.usable_size(p);
  } else if (next.malloc_usable_size != nullptr) {
    old_usable = next.malloc_usable_size(p);
  } else {
    return next.realloc(p, size);  // cannot move it safely: stay unsampled
  }
  void* q = sample ? rec.allocate(size, 16) : nullptr;
  if (q == nullptr) {
    if (!ours) return next.realloc(p, size);  // region full: plain realloc
    q = next.malloc(size);
    if (q == nullptr) return nullptr;  // ENOMEM from next; p stays valid, as C requires
  }
  memcpy(q, p, old_usable < size ? old_usable : size);
  if (ours) {
    rec.free(p);
  } else {
    int saved_errno = errno;
    next.free(p);
    errno = saved_errno;
  }
  return q;
}

size_t heap_usable_size(const NextAllocator& next, HeapRecorder& rec, void* p) noexcept {
  if (p == nullptr) return 0;
  if (rec.owns(p)) return rec.usable_size(p);
  return next.malloc_usable_size != nullptr ? next.malloc_usable_size(p) : 0;
}

}  // namespace profagent
