// Mutex and block collectors (see lock_collectors.h). Normal context.
#include "collectors/lock_collectors.h"

#include "agent/log.h"
#include "collectors/contention_profile.h"
#include "collectors/lock_profiler.h"
#include "collectors/lock_sampling.h"

namespace profagent {

bool MutexCollector::start(const Config& config) {
  if (!g_mutex_table.init()) {
    log().warn("mutex profile off: cannot map its table");
    return false;
  }
  started_ = true;
  g_mutex_fraction.store(config.mutex_fraction, std::memory_order_release);
  return true;
}

void MutexCollector::stop() {
  // Waiters already registered still depart; unlocks stop charging once none is left.
  g_mutex_fraction.store(0, std::memory_order_release);
}

void MutexCollector::on_fork_child() noexcept {
  g_lock_waits.clear();
  g_mutex_table.clear();
  reset_lock_random();
}

std::optional<ProfileBuilder> MutexCollector::snapshot(const DumpRequest& request) {
  if (!started_) return std::nullopt;
  if (uint64_t n = g_lock_waits.untracked(); n != 0)
    log().debug("mutex profile: {} waits on locks the waiter table could not track", n);
  return build_contention_profile(g_mutex_table, request.now_unix_nanos);
}

bool BlockCollector::start(const Config& config) {
  if (!g_block_table.init()) {
    log().warn("block profile off: cannot map its table");
    return false;
  }
  started_ = true;
  g_block_rate.store(config.block_rate, std::memory_order_release);
  return true;
}

void BlockCollector::stop() { g_block_rate.store(0, std::memory_order_release); }

void BlockCollector::on_fork_child() noexcept {
  g_block_table.clear();
  reset_lock_random();
}

std::optional<ProfileBuilder> BlockCollector::snapshot(const DumpRequest& request) {
  if (!started_) return std::nullopt;
  return build_contention_profile(g_block_table, request.now_unix_nanos);
}

}  // namespace profagent
