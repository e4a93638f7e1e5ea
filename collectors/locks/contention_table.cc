// Contention bucket table (see contention_table.h). HOOK CONTEXT for record() and clear().
#include "collectors/locks/contention_table.h"

#include <cstring>

namespace profagent {

void ContentionTable::record(const uintptr_t* pcs, int depth, int32_t tid,
                             const char* thread_name, double count, int64_t delay) noexcept {
  table_.record(pcs, depth, thread_name, 0, tid, [count, delay](ContentionCounters& c) {
    c.count += count;
    c.delay = delay > INT64_MAX - c.delay ? INT64_MAX : c.delay + delay;
  });
}

std::vector<ContentionBucketCopy> ContentionTable::copy() const {
  std::vector<ContentionBucketCopy> out;
  const auto raw = table_.copy_locked();
  for (uint32_t id = 0; id < raw.size(); ++id) {
    const auto& b = raw[id];
    if (b.payload.count <= 0 && b.payload.delay <= 0) continue;
    ContentionBucketCopy c;
    c.overflow = id == kOverflowBucket;
    c.tid = b.tid;
    c.thread_name.assign(b.key.thread_name, strnlen(b.key.thread_name, sizeof b.key.thread_name));
    c.count = b.payload.count;
    c.delay = b.payload.delay;
    if (!c.overflow) c.stack.assign(b.key.pcs, b.key.pcs + b.key.depth);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace profagent
