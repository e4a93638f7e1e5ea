// Contention bucket table (see contention_table.h). HOOK CONTEXT for record() and clear().
#include "collectors/contention_table.h"

#include <cstring>

#include "collectors/stack_table_memory.h"

namespace profagent {

bool ContentionTable::init(uint32_t max_buckets) noexcept {
  if (buckets_ != nullptr) return true;
  if (max_buckets < 2) max_buckets = 2;
  StackTableMemory memory;
  if (!map_stack_table(sizeof(Bucket), max_buckets, &memory)) return false;
  HeapSpinGuard guard(lock_);
  buckets_ = static_cast<Bucket*>(memory.buckets);
  index_ = memory.index;
  max_buckets_ = max_buckets;
  index_mask_ = memory.index_mask;
  count_ = 1;  // bucket 0 = overflow, never in the index
  return true;
}

void ContentionTable::record(const uintptr_t* pcs, int depth, int32_t tid,
                             const char* thread_name, double count, int64_t delay) noexcept {
  if (buckets_ == nullptr) return;
  if (depth > kMaxFrames) depth = kMaxFrames;
  if (depth < 0) depth = 0;
  char name[16] = {};
  if (thread_name != nullptr) strncpy(name, thread_name, sizeof name - 1);
  uint64_t h = hash_stack_key(pcs, depth, name, 0);
  HeapSpinGuard guard(lock_);
  Bucket* target = &buckets_[kOverflowBucket];
  for (uint32_t slot = static_cast<uint32_t>(h) & index_mask_;; slot = (slot + 1) & index_mask_) {
    uint32_t v = index_[slot];
    if (v == 0) {
      if (count_ >= max_buckets_) break;  // full: overflow bucket
      Bucket& b = buckets_[count_];
      b.hash = h;
      b.tid = tid;
      memcpy(b.thread_name, name, sizeof name);
      b.depth = static_cast<uint32_t>(depth);
      b.count = 0;
      b.delay = 0;
      memcpy(b.pcs, pcs, sizeof(uintptr_t) * static_cast<size_t>(depth));
      index_[slot] = ++count_;
      target = &b;
      break;
    }
    Bucket& b = buckets_[v - 1];
    if (b.hash == h && b.depth == static_cast<uint32_t>(depth) &&
        memcmp(b.thread_name, name, sizeof name) == 0 &&
        memcmp(b.pcs, pcs, sizeof(uintptr_t) * static_cast<size_t>(depth)) == 0) {
      if (b.tid != tid) b.tid = kManyContentionThreads;
      target = &b;
      break;
    }
  }
  target->count += count;
  target->delay = delay > INT64_MAX - target->delay ? INT64_MAX : target->delay + delay;
}

std::vector<ContentionBucketCopy> ContentionTable::copy() const {
  std::vector<ContentionBucketCopy> out;
  if (buckets_ == nullptr) return out;
  // Raw copy under the lock into a buffer sized beforehand (no allocation while holding it:
  // a host thread may be spinning on the lock).
  uint32_t n;
  {
    HeapSpinGuard guard(lock_);
    n = count_;
  }
  std::vector<Bucket> raw(n);
  {
    HeapSpinGuard guard(lock_);
    if (count_ < n) n = count_;  // clear() ran in between (only after fork; be safe)
    memcpy(static_cast<void*>(raw.data()), buckets_, sizeof(Bucket) * n);
  }
  for (uint32_t id = 0; id < n; ++id) {
    const Bucket& b = raw[id];
    if (b.count <= 0 && b.delay <= 0) continue;
    ContentionBucketCopy c;
    c.overflow = id == kOverflowBucket;
    c.tid = b.tid;
    c.thread_name.assign(b.thread_name, strnlen(b.thread_name, sizeof b.thread_name));
    c.count = b.count;
    c.delay = b.delay;
    if (!c.overflow) c.stack.assign(b.pcs, b.pcs + b.depth);
    out.push_back(std::move(c));
  }
  return out;
}

void ContentionTable::clear() noexcept {
  lock_.reset();
  if (buckets_ == nullptr) return;
  memset(index_, 0, sizeof(uint32_t) * (static_cast<size_t>(index_mask_) + 1));
  buckets_[kOverflowBucket].count = 0;
  buckets_[kOverflowBucket].delay = 0;
  count_ = 1;
}

}  // namespace profagent
