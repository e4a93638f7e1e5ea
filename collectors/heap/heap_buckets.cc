// Heap bucket table (see heap_buckets.h). HOOK CONTEXT except copy().
#include "collectors/heap/heap_buckets.h"

#include "agent/core/sample_path.h"

#include <cstring>

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

PROFAGENT_SAMPLE_PATH
uint32_t HeapBucketTable::record_alloc(const uintptr_t* pcs, int depth, uint64_t size,
                                       int32_t tid, const char* thread_name) noexcept {
  return table_.record(pcs, depth, thread_name, bucket_size_class(size), tid,
                       [size](HeapCounters& c) {
                         c.allocs.fetch_add(1, std::memory_order_relaxed);
                         c.alloc_bytes.fetch_add(size, std::memory_order_relaxed);
                       });
}

PROFAGENT_SAMPLE_PATH void HeapBucketTable::record_free(uint32_t id, uint64_t size) noexcept {
  if (!table_.initialized() || id >= table_.count()) return;
  HeapCounters& c = table_.bucket(id).payload;
  // Release: a copy() that sees this free also sees the allocation counted before it.
  c.free_bytes.fetch_add(size, std::memory_order_release);
  c.frees.fetch_add(1, std::memory_order_release);
}

std::vector<HeapBucketCopy> HeapBucketTable::copy() const {
  std::vector<HeapBucketCopy> out;
  if (!table_.initialized()) return out;
  const uint32_t n = table_.count();  // key fields of [0, n) are published
  out.reserve(n);
  for (uint32_t id = 0; id < n; ++id) {
    const auto& b = table_.bucket(id);
    HeapBucketCopy c;
    // Frees first: an object's free is counted after its alloc, so frees <= allocs.
    c.frees = b.payload.frees.load(std::memory_order_acquire);
    c.free_bytes = b.payload.free_bytes.load(std::memory_order_acquire);
    c.allocs = b.payload.allocs.load(std::memory_order_acquire);
    c.alloc_bytes = b.payload.alloc_bytes.load(std::memory_order_acquire);
    if (c.allocs == 0) continue;
    if (c.frees > c.allocs) c.frees = c.allocs;
    if (c.free_bytes > c.alloc_bytes) c.free_bytes = c.alloc_bytes;
    c.overflow = id == kOverflowBucket;
    c.size = b.key.extra;
    c.tid = b.tid.load(std::memory_order_relaxed);
    c.thread_name.assign(b.key.thread_name, strnlen(b.key.thread_name, sizeof b.key.thread_name));
    c.stack.assign(b.key.pcs, b.key.pcs + b.key.depth);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace profagent
