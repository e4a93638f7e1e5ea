// The sampled-object region allocator (see heap_region.h). HOOK CONTEXT (reserve() too: the
// first sampled allocation makes the reservation): no host allocation, the agent's own spin
// lock only; mmap/mprotect/madvise syscalls (munmap and sched_yield in
// fit_under_address_limit, from the setrlimit hooks).
#include "collectors/heap/heap_region.h"

#include "agent/core/code_layout.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/hook_guard.h"

#include <sys/mman.h>
#include <sys/resource.h>

#include <cstring>

namespace profagent {
namespace {

constexpr size_t kPage = 4096;
constexpr size_t kSpanThreshold = 64 * 1024;     // classes from here get a span each
constexpr size_t kReleaseThreshold = 128 * 1024;  // spans from here give pages back on free
constexpr size_t kMinChunk = 64 * 1024;
constexpr size_t kMinReserve = size_t{1} << 30;
// Under a finite RLIMIT_AS (`ulimit -v`) the kernel counts the reservation against the
// program's own budget (every mapping counts, PROT_NONE and MAP_NORESERVE ones too), so
// there it is at most this fraction of the limit: the program keeps ~98% of its address
// space. A sampled object that finds the region full is served by the program's allocator
// and counted as lost (the heap file says how many).
constexpr size_t kLimitFraction = 64;
constexpr size_t kMinReserveUnderLimit = size_t{1} << 20;
constexpr uint64_t kMagic = 0xa5;

struct ObjectHeader {
  uint32_t tag;
  uint32_t offset;           // object address - block address
  uint64_t size_magic_class;  // size << 16 | magic << 8 | class
};
static_assert(sizeof(ObjectHeader) == HeapRegion::kHeaderSize);

ObjectHeader* header_of(const void* p) {
  return reinterpret_cast<ObjectHeader*>(reinterpret_cast<uintptr_t>(p) - sizeof(ObjectHeader));
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) & ~(to - 1); }

// A class's first chunk holds one block (a page at least), each next one twice the last, up
// to 4 blocks or 64 KiB: a process with a few samples (a shell: one or two in most classes it
// meets) keeps its sampled objects on a few neighbouring pages, not 64 KiB apart, so every
// fork copies (and its child's exec frees) one page table for them, not three.
constexpr unsigned kChunkDoublings = 16;
size_t chunk_bytes(size_t class_bytes, unsigned carved) {
  const size_t full = round_up(class_bytes * 4 > kMinChunk ? class_bytes * 4 : kMinChunk, kPage);
  const size_t grown = round_up(class_bytes, kPage) << carved;
  return grown < full ? grown : full;
}

// The most the reservation may take under an address-space limit of `limit_bytes`.
size_t cap_under_limit(uint64_t limit_bytes) {
  return static_cast<size_t>(limit_bytes / kLimitFraction) & ~(kPage - 1);
}

}  // namespace

int heap_class_index(size_t b) noexcept {
  if (b <= 128) return b <= 16 ? 0 : static_cast<int>((b + 15) / 16) - 1;
  int k = 63 - __builtin_clzl(b - 1);  // 2^k < b <= 2^(k+1)
  size_t sub = ((b - 1) - (size_t{1} << k)) >> (k - 2);
  return 8 + (k - 7) * 4 + static_cast<int>(sub);
}

size_t heap_class_size(int index) noexcept {
  if (index < 8) return static_cast<size_t>(index + 1) * 16;
  int k = 7 + (index - 8) / 4;
  size_t sub = static_cast<size_t>((index - 8) % 4);
  return (size_t{1} << k) + (sub + 1) * (size_t{1} << (k - 2));
}

PROFAGENT_SAMPLE_PATH bool HeapRegion::reserve(size_t bytes) noexcept {
  // Under the lock: a setrlimit hook on another thread that fits the region to a new limit
  // (fit_under_address_limit) waits for it, or came first and this reads its limit.
  SpinGuard guard(lock_);
  if (size_.load() != 0) return true;
  size_t least = kMinReserve;
  rlimit limit;
  if (getrlimit(RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    const size_t cap = cap_under_limit(limit.rlim_cur);
    if (bytes > cap) bytes = cap;
    least = kMinReserveUnderLimit;
  }
  bytes = round_up(bytes, kPage);
  for (; bytes >= least; bytes /= 2) {
    void* p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) continue;
    size_t max_block = bytes / 8;
    if (max_block > heap_class_size(kMaxClasses - 1)) max_block = heap_class_size(kMaxClasses - 1);
    max_block_.store(max_block, std::memory_order_relaxed);
    base_.store(reinterpret_cast<uintptr_t>(p), std::memory_order_relaxed);
    size_.store(bytes, std::memory_order_release);
    return true;
  }
  return false;
}

size_t HeapRegion::fit_under_address_limit(uint64_t limit_bytes, uint64_t mapped_bytes) noexcept {
  // The lock even before any reservation: the first sample may be making one on another
  // thread (reserve(), which reads the limit under it), and is then waited for and fitted.
  // The holder is another thread for a few dozen instructions (a few microseconds while it
  // reserves); or this thread (a signal handler's setrlimit over its own sampled malloc),
  // which no retry would free: one try.
  const int attempts = in_agent() ? 1 : 1000;
  for (int attempt = 1; !lock_.try_lock(); ++attempt) {
    if (attempt == attempts) return size_.load(std::memory_order_relaxed);
    sched_yield();
  }
  const size_t size = size_.load(std::memory_order_relaxed);
  if (size == 0) {  // (none yet: the one made later reads this limit)
    lock_.unlock();
    return 0;
  }
  // Below what is mapped, the limit was set without knowing of the reservation: it is cut as
  // reserve() would take it under that limit and its tail given back. At or above (`current +
  // X`), the reservation was counted in: it stays mapped (the room left is the room it would
  // leave without the agent) and only its usable part shrinks, to a 64th of the limit the
  // program would have set without it, so sampled objects, which take no new address space
  // in it, escape that limit by that much at most.
  const bool unmap_tail = limit_bytes < mapped_bytes;
  const uint64_t as_without = unmap_tail ? limit_bytes
                              : limit_bytes > size ? limit_bytes - size
                                                   : 0;
  // 1 MiB at least (where reserve() would take none, the heap profile stays on), and never
  // what was handed out.
  size_t keep = cap_under_limit(as_without);
  if (keep < kMinReserveUnderLimit) keep = kMinReserveUnderLimit;
  if (keep < round_up(bump_, kPage)) keep = round_up(bump_, kPage);  // (carve keeps pages whole)
  if (keep < size) {
    // The new size first: once the tail is unmapped the kernel may hand its addresses to the
    // program, whose pointers there free() must not take for sampled objects.
    size_.store(keep, std::memory_order_seq_cst);
    if (max_block_.load(std::memory_order_relaxed) > keep / 8)
      max_block_.store(keep / 8, std::memory_order_relaxed);
    if (unmap_tail)
      munmap(reinterpret_cast<void*>(base_.load(std::memory_order_relaxed) + keep), size - keep);
  }
  const size_t now = size_.load(std::memory_order_relaxed);
  lock_.unlock();
  return now;
}

PROFAGENT_SAMPLE_PATH uintptr_t HeapRegion::carve(size_t bytes) noexcept {
  size_t size = size_.load(std::memory_order_relaxed);
  if (bytes > size - bump_) return 0;
  uintptr_t at = base_.load(std::memory_order_relaxed) + bump_;
  if (mprotect(reinterpret_cast<void*>(at), bytes, PROT_READ | PROT_WRITE) != 0) return 0;
  bump_ += bytes;
  committed_.fetch_add(bytes, std::memory_order_relaxed);
  return at;
}

PROFAGENT_SAMPLE_PATH
void* HeapRegion::allocate(size_t size, size_t alignment, uint32_t tag) noexcept {
  if (size_.load(std::memory_order_relaxed) == 0) return nullptr;
  if (alignment < 16) alignment = 16;
  if (alignment > kMaxAlignment || (alignment & (alignment - 1)) != 0) return nullptr;
  size_t object = size < 16 ? 16 : size;
  size_t slack = alignment == 16 ? kHeaderSize : alignment;
  const size_t max_block = max_block_.load(std::memory_order_relaxed);
  if (object > max_block || object + slack > max_block) return nullptr;
  int cls = heap_class_index(object + slack);
  size_t class_bytes = heap_class_size(cls);

  uintptr_t block = 0;
  {
    SpinGuard guard(lock_);
    ClassState& c = classes_[cls];
    if (c.free_head != 0) {
      block = c.free_head;
      c.free_head = *reinterpret_cast<uintptr_t*>(block);
    } else if (class_bytes >= kSpanThreshold) {
      block = carve(class_bytes);
    } else {
      if (c.chunk_next + class_bytes > c.chunk_end || c.chunk_next == 0) {
        const size_t chunk = chunk_bytes(class_bytes, c.chunks_carved);
        uintptr_t at = carve(chunk);
        if (at != 0) {
          c.chunk_next = at;
          c.chunk_end = at + chunk;
          if (c.chunks_carved < kChunkDoublings) ++c.chunks_carved;
        }
      }
      if (c.chunk_next != 0 && c.chunk_next + class_bytes <= c.chunk_end) {
        block = c.chunk_next;
        c.chunk_next += class_bytes;
      }
    }
  }
  if (block == 0) return nullptr;

  uintptr_t p = round_up(block + kHeaderSize, alignment);
  ObjectHeader* h = header_of(reinterpret_cast<void*>(p));
  h->tag = tag;
  h->offset = static_cast<uint32_t>(p - block);
  h->size_magic_class = (static_cast<uint64_t>(size) << 16) | (kMagic << 8) |
                        static_cast<uint64_t>(cls);
  live_objects_.fetch_add(1, std::memory_order_relaxed);
  live_bytes_.fetch_add(size, std::memory_order_relaxed);
  return reinterpret_cast<void*>(p);
}

void HeapRegion::set_tag(void* p, uint32_t tag) noexcept { header_of(p)->tag = tag; }

HeapRegion::ObjectInfo HeapRegion::info(const void* p) const noexcept {
  ObjectInfo out;
  if (!contains(p) || (reinterpret_cast<uintptr_t>(p) & 15) != 0) return out;
  const ObjectHeader* h = header_of(p);
  if (((h->size_magic_class >> 8) & 0xff) != kMagic) return out;
  int cls = static_cast<int>(h->size_magic_class & 0xff);
  out.valid = true;
  out.tag = h->tag;
  out.size = static_cast<size_t>(h->size_magic_class >> 16);
  out.usable = heap_class_size(cls) - h->offset;
  return out;
}

PROFAGENT_SAMPLE_PATH void HeapRegion::release(void* p) noexcept {
  ObjectInfo i = info(p);
  if (!i.valid) return;  // double free or a stray pointer: never corrupt the free lists
  ObjectHeader* h = header_of(p);
  int cls = static_cast<int>(h->size_magic_class & 0xff);
  uintptr_t block = reinterpret_cast<uintptr_t>(p) - h->offset;
  h->size_magic_class = 0;  // a second free of p now sees no magic
  size_t class_bytes = heap_class_size(cls);
  if (class_bytes >= kReleaseThreshold)
    madvise(reinterpret_cast<void*>(block + kPage), class_bytes - kPage, MADV_DONTNEED);
  live_objects_.fetch_sub(1, std::memory_order_relaxed);
  live_bytes_.fetch_sub(i.size, std::memory_order_relaxed);
  SpinGuard guard(lock_);
  ClassState& c = classes_[cls];
  *reinterpret_cast<uintptr_t*>(block) = c.free_head;
  c.free_head = block;
}

HeapRegion::Stats HeapRegion::stats() const noexcept {
  Stats s;
  s.reserved = size_.load();
  s.committed = committed_.load();
  s.live_objects = live_objects_.load();
  s.live_bytes = live_bytes_.load();
  return s;
}

}  // namespace profagent
