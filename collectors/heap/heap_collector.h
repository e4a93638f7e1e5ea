// Heap profile (kind "heap", docs/pprof-semantics.md §4/§5.1): starts and stops the malloc
// sampling done by the hooks (heap_hooks.cc → heap_sampler.h → heap_recorder.h) and writes
// the unsampled bucket counters at each dump. Normal context; on_fork_child is
// async-signal-safe.
#pragma once

#include "collectors/common/collector.h"
#include "collectors/heap/heap_kind.h"

namespace profagent {

class HeapCollector final : public Collector {
 public:
  const ProfileKind& descriptor() const override { return kHeapKind; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  bool nothing_to_write_at_exit(const DumpRequest& request) override;
  bool gathered_nothing() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

  // Address space reserved for sampled objects (largest try; halved on failure to 1 GiB).
  static constexpr size_t kRegionBytes = size_t{256} << 30;

 private:
  int64_t rate_ = 0;
  bool started_ = false;
};

// Builds the heap profile from the process's buckets at `rate` (exposed for tests).
ProfileBuilder build_heap_profile(int64_t rate, int64_t time_nanos);

}  // namespace profagent
