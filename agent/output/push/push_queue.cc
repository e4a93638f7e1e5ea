// Bounded drop-oldest queue and retry schedule of the push path (push_queue.h).
#include "agent/output/push/push_queue.h"

namespace profagent {

size_t PushQueue::push(PushItem item) {
  bytes_ += item.gzipped.size();
  items_.push_back(std::move(item));
  size_t dropped = 0;
  while (items_.size() > 1 && (items_.size() > max_items_ || bytes_ > max_bytes_)) {
    bytes_ -= items_.front().gzipped.size();
    items_.pop_front();
    ++dropped;
  }
  dropped_ += dropped;
  return dropped;
}

std::optional<PushItem> PushQueue::pop() {
  if (items_.empty()) return std::nullopt;
  PushItem item = std::move(items_.front());
  items_.pop_front();
  bytes_ -= item.gzipped.size();
  return item;
}

void PushQueue::clear() {
  items_.clear();
  bytes_ = 0;
}

bool RetryPolicy::retryable(int status) {
  return status == 0 || status == 408 || status == 429 || (status >= 500 && status < 600);
}

int64_t RetryPolicy::backoff_nanos(int attempt) const {
  if (attempt < 1 || attempt >= max_attempts) return 0;
  int64_t wait = first_backoff_nanos;
  for (int i = 1; i < attempt && wait < max_backoff_nanos; ++i) wait *= 2;
  return wait < max_backoff_nanos ? wait : max_backoff_nanos;
}

}  // namespace profagent
