// The push path's bounded queue and retry policy: dumps add profiles, the push thread takes
// them; when the backend is slower than the dumps the oldest profiles are dropped (and
// counted) so the agent's memory stays bounded. Plain data structures, not thread-safe:
// the pusher guards them with its mutex. Normal context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "agent/core/profile_kind.h"
#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent {

struct PushItem {
  const ProfileKind* kind = nullptr;  // the profile's kind (its descriptor)
  std::string gzipped;           // the profile file's bytes
  // The profile itself, for a kind with cumulative sample types (pushed as a delta).
  std::shared_ptr<SymbolizedProfile> cumulative;
  int64_t from_unix_nanos = 0;   // window start (previous dump of this kind, or agent start)
  int64_t until_unix_nanos = 0;  // the dump time
};

class PushQueue {
 public:
  PushQueue(size_t max_items, size_t max_bytes) : max_items_(max_items), max_bytes_(max_bytes) {}

  // Appends `item`, then drops the oldest items while over either bound (the newest item is
  // always kept). Returns how many were dropped.
  size_t push(PushItem item);
  // The oldest item, removed; nullopt when empty.
  std::optional<PushItem> pop();

  size_t size() const { return items_.size(); }
  size_t bytes() const { return bytes_; }
  uint64_t dropped() const { return dropped_; }
  void clear();

 private:
  size_t max_items_;
  size_t max_bytes_;
  std::deque<PushItem> items_;
  size_t bytes_ = 0;
  uint64_t dropped_ = 0;
};

// What to do after a failed attempt. `status` is the HTTP status, 0 for a transport error
// (refused, reset, timeout).
struct RetryPolicy {
  int max_attempts = 3;                       // attempts per profile, the first included
  int64_t first_backoff_nanos = 500000000;    // wait before the 2nd attempt
  int64_t max_backoff_nanos = 4000000000;     // doubling, capped here

  // Transport errors, 408, 429 and 5xx are worth another try; other answers are final.
  static bool retryable(int status);
  static bool success(int status) { return status >= 200 && status < 300; }
  // Wait after failed attempt number `attempt` (1-based) before the next; 0 = give up.
  int64_t backoff_nanos(int attempt) const;
};

}  // namespace profagent
