// Heap collector (see heap_collector.h). Normal context.
#include "collectors/heap/heap_collector.h"

#include <map>
#include <string>

#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/runtime/threads/thread_registry.h"
#include "collectors/heap/heap_recorder.h"
#include "collectors/heap/heap_sampler.h"
#include "collectors/heap/heap_scale.h"
#include "agent/core/code_layout.h"

namespace profagent {

PROFAGENT_START_PATH
bool HeapCollector::start(const Config& config) {
  // Reserved and mapped by the first sample (heap_recorder.h).
  g_heap_recorder.configure(kRegionBytes, HeapBucketTable::kDefaultMaxBuckets);
  rate_ = config.value(kHeapKind.name);
  started_ = true;
  g_heap_sample_rate.store(rate_, std::memory_order_release);
  return true;
}

void HeapCollector::stop() {
  // Hooks stop sampling; objects already sampled stay in the region and their frees are
  // still matched, so the last snapshot stays right.
  g_heap_sample_rate.store(0, std::memory_order_release);
}

// (The thread's sampler needs nothing: it seeds itself anew in the child, heap_sampler.h.)
PROFAGENT_FORK_PATH void HeapCollector::on_fork_child() noexcept {
  g_heap_recorder.reset_after_fork();
}

ProfileBuilder build_heap_profile(int64_t rate, int64_t time_nanos) {
  ProfileBuilder builder(shape_of(kHeapKind, rate));
  builder.set_time(time_nanos);

  std::vector<HeapBucketCopy> buckets = g_heap_recorder.buckets().copy();
  for (HeapBucketCopy& b : buckets) {
    auto to_i64 = [](uint64_t v) { return v > INT64_MAX ? INT64_MAX : static_cast<int64_t>(v); };
    ScaledHeapValue alloc = scale_heap_sample(to_i64(b.allocs), to_i64(b.alloc_bytes), rate);
    ScaledHeapValue inuse = scale_heap_sample(to_i64(b.allocs - b.frees),
                                              to_i64(b.alloc_bytes - b.free_bytes), rate);
    int64_t values[4] = {alloc.count, alloc.bytes, inuse.count, inuse.bytes};
    std::vector<Label> labels;
    labels.reserve(3);
    // The bucket's size class, as Go labels a bucket with its allocator size class: stable
    // for the bucket's whole life, so successive profiles' samples match (deltas, -diff_base).
    int64_t block = to_i64(b.size);
    if (block != 0) labels.push_back(ProfileBuilder::num_label("bytes", block));
    if (!b.overflow) {
      // tid only where one thread made every allocation of the bucket (buckets are keyed on
      // the thread name; see heap_buckets.h).
      if (b.tid != kManyThreads) labels.push_back(ProfileBuilder::num_label("tid", b.tid));
      if (!b.thread_name.empty())
        labels.push_back(ProfileBuilder::str_label("thread_name", std::move(b.thread_name)));
      builder.add_sample(std::move(b.stack), values, std::move(labels));
    } else {
      builder.add_synthetic_sample("[profagent: heap bucket table full]", values,
                                   std::move(labels));
    }
  }
  return builder;
}

PROFAGENT_START_PATH
bool HeapCollector::nothing_to_write_at_exit(const DumpRequest&) { return gathered_nothing(); }

// No allocation was ever sampled: no bucket table, or only its overflow bucket (bucket 0,
// used once the table is full).
PROFAGENT_START_PATH bool HeapCollector::gathered_nothing() noexcept {
  return !started_ || g_heap_recorder.counted_nothing();
}

std::optional<ProfileBuilder> HeapCollector::snapshot(const DumpRequest& request) {
  if (!started_) return std::nullopt;
  AgentScope scope;
  return build_heap_profile(rate_, request.now_unix_nanos);
}

}  // namespace profagent
