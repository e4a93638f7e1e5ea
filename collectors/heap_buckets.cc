// Heap bucket table (see heap_buckets.h). HOOK CONTEXT except init() and copy().
#include "collectors/heap_buckets.h"

#include <cstring>

#include "collectors/stack_table_memory.h"

namespace profagent {
namespace {

// The size a bucket is keyed on: the requested size rounded up to a size class (exact
// 16-byte steps up to 128 bytes, then 4 classes per power of two), as Go keys its buckets on
// its allocator's size classes. A site that allocates many distinct sizes (a buffer sized by
// its input) then gets ~4 buckets per doubling instead of one per size; the `bytes` label
// still reports the exact average (alloc_bytes / allocs).
uint64_t bucket_size_class(uint64_t size) {
  if (size <= 128) return (size + 15) & ~uint64_t{15};
  int log = 63 - __builtin_clzll(size - 1);  // size in (2^log, 2^(log+1)]
  uint64_t step = uint64_t{1} << (log - 2);
  return (size + step - 1) & ~(step - 1);
}

}  // namespace

bool HeapBucketTable::init(uint32_t max_buckets) noexcept {
  if (buckets_ != nullptr) return true;
  if (max_buckets < 2) max_buckets = 2;
  StackTableMemory memory;
  if (!map_stack_table(sizeof(HeapBucket), max_buckets, &memory)) return false;
  // zero pages: every atomic starts at 0
  buckets_ = static_cast<HeapBucket*>(memory.buckets);
  index_ = memory.index;
  max_buckets_ = max_buckets;
  index_mask_ = memory.index_mask;
  count_.store(1, std::memory_order_release);  // bucket 0 = overflow, never in the index
  return true;
}

uint32_t HeapBucketTable::record_alloc(const uintptr_t* pcs, int depth, uint64_t size,
                                       int32_t tid, const char* thread_name) noexcept {
  if (buckets_ == nullptr) return kOverflowBucket;
  if (depth > kMaxFrames) depth = kMaxFrames;
  if (depth < 0) depth = 0;
  char name[16] = {};
  if (thread_name != nullptr) strncpy(name, thread_name, sizeof name - 1);
  const uint64_t bytes = size;
  size = bucket_size_class(size);
  uint64_t h = hash_stack_key(pcs, depth, name, size);
  uint32_t id = kOverflowBucket;
  {
    HeapSpinGuard guard(lock_);
    for (uint32_t slot = static_cast<uint32_t>(h) & index_mask_;; slot = (slot + 1) & index_mask_) {
      uint32_t v = index_[slot];
      if (v == 0) {
        uint32_t n = count_.load(std::memory_order_relaxed);
        if (n >= max_buckets_) break;  // full: overflow bucket
        HeapBucket& b = buckets_[n];
        b.hash = h;
        b.size = size;
        b.tid.store(tid, std::memory_order_relaxed);
        memcpy(b.thread_name, name, sizeof name);
        b.depth = static_cast<uint32_t>(depth);
        memcpy(b.pcs, pcs, sizeof(uintptr_t) * static_cast<size_t>(depth));
        index_[slot] = n + 1;
        count_.store(n + 1, std::memory_order_release);
        id = n;
        break;
      }
      const HeapBucket& b = buckets_[v - 1];
      if (b.hash == h && b.size == size && b.depth == static_cast<uint32_t>(depth) &&
          memcmp(b.thread_name, name, sizeof name) == 0 &&
          memcmp(b.pcs, pcs, sizeof(uintptr_t) * static_cast<size_t>(depth)) == 0) {
        id = v - 1;
        break;
      }
    }
  }
  HeapBucket& b = buckets_[id];
  if (id != kOverflowBucket && b.tid.load(std::memory_order_relaxed) != tid)
    b.tid.store(kManyThreads, std::memory_order_relaxed);
  b.allocs.fetch_add(1, std::memory_order_relaxed);
  b.alloc_bytes.fetch_add(bytes, std::memory_order_relaxed);
  return id;
}

void HeapBucketTable::record_free(uint32_t id, uint64_t size) noexcept {
  if (buckets_ == nullptr || id >= count_.load(std::memory_order_acquire)) return;
  HeapBucket& b = buckets_[id];
  // Release: a copy() that sees this free also sees the allocation counted before it.
  b.free_bytes.fetch_add(size, std::memory_order_release);
  b.frees.fetch_add(1, std::memory_order_release);
}

std::vector<HeapBucketCopy> HeapBucketTable::copy() const {
  std::vector<HeapBucketCopy> out;
  if (buckets_ == nullptr) return out;
  uint32_t n = count_.load(std::memory_order_acquire);  // key fields of [0, n) are published
  out.reserve(n);
  for (uint32_t id = 0; id < n; ++id) {
    const HeapBucket& b = buckets_[id];
    HeapBucketCopy c;
    // Frees first: an object's free is counted after its alloc, so frees <= allocs.
    c.frees = b.frees.load(std::memory_order_acquire);
    c.free_bytes = b.free_bytes.load(std::memory_order_acquire);
    c.allocs = b.allocs.load(std::memory_order_acquire);
    c.alloc_bytes = b.alloc_bytes.load(std::memory_order_acquire);
    if (c.allocs == 0) continue;
    if (c.frees > c.allocs) c.frees = c.allocs;
    if (c.free_bytes > c.alloc_bytes) c.free_bytes = c.alloc_bytes;
    c.overflow = id == kOverflowBucket;
    c.size = b.size;
    c.tid = b.tid.load(std::memory_order_relaxed);
    c.thread_name.assign(b.thread_name, strnlen(b.thread_name, sizeof b.thread_name));
    c.stack.assign(b.pcs, b.pcs + b.depth);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace profagent
