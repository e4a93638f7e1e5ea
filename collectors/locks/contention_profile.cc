// Contention table → profile (see contention_profile.h). Normal context.
#include "collectors/locks/contention_profile.h"

#include <map>
#include <string>

#include "agent/runtime/hook_guard.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {

ProfileBuilder build_contention_profile(const ProfileKind& kind, const ContentionTable& table,
                                        int64_t time_nanos) {
  AgentScope scope;
  ProfileBuilder builder(shape_of(kind, 1));
  builder.set_time(time_nanos);
  for (const ContentionBucketCopy& b : table.copy()) {
    // Go: count is a float, written truncated and at least 1.
    int64_t count = b.count >= 9.2e18 ? INT64_MAX : static_cast<int64_t>(b.count);
    if (count < 1) count = 1;
    int64_t values[2] = {count, b.delay};
    if (b.overflow) {
      builder.add_synthetic_sample("[profagent: contention table full]", values);
      continue;
    }
    std::vector<Label> labels;
    if (b.tid != kManyThreads) labels.push_back(ProfileBuilder::num_label("tid", b.tid));
    if (!b.thread_name.empty())
      labels.push_back(ProfileBuilder::str_label("thread_name", b.thread_name));
    std::vector<uint64_t> stack(b.stack.begin(), b.stack.end());
    builder.add_sample(stack, values, std::move(labels));
  }
  return builder;
}

}  // namespace profagent
