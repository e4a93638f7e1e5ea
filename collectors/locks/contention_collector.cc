// The contention collector for both sides (see contention_collector.h). Normal context.
#include "collectors/locks/contention_collector.h"

#include "agent/core/code_layout.h"
#include "agent/core/log.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/locks/contention_profile.h"
#include "collectors/locks/lock_profiler.h"
#include "collectors/locks/lock_sampling.h"

namespace profagent {
namespace {

// What differs between the two sides: their descriptor, table and rate.
struct Side {
  const ProfileKind* kind;
  ContentionTable* table;
  std::atomic<int64_t>* rate;  // the hooks' switch: 0 = off
  bool tracks_waiters;         // the mutex side owns the waiter table (charged at unlock)
};

class ContentionCollector final : public Collector {
 public:
  explicit ContentionCollector(const Side& side) : side_(side) {}

  const ProfileKind& descriptor() const override { return *side_.kind; }

  bool start(const Config& config) override {
    if (!side_.table->init()) {
      log().warn("{} profile off: cannot map its table", side_.kind->name);
      return false;
    }
    started_ = true;
    side_.rate->store(config.value(side_.kind->name), std::memory_order_release);
    return true;
  }

  // Mutex side: waiters already registered still depart; unlocks stop charging once none
  // is left.
  void stop() override { side_.rate->store(0, std::memory_order_release); }

  void on_fork_child() noexcept override {
    if (side_.tracks_waiters) g_lock_waits.clear();
    side_.table->forget_in_fork_child();
    reset_lock_random();
  }

  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override {
    if (!started_) return std::nullopt;
    if (side_.tracks_waiters) {
      if (uint64_t n = g_lock_waits.untracked(); n != 0)
        log_debug("mutex profile: {} waits on locks the waiter table could not track", n);
    }
    return build_contention_profile(*side_.kind, *side_.table, request.now_unix_nanos);
  }

 private:
  Side side_;
  bool started_ = false;
};

}  // namespace

PROFAGENT_START_PATH std::unique_ptr<Collector> make_contention_collector(ContentionSide side) {
  if (side == ContentionSide::kMutex)
    return std::make_unique<ContentionCollector>(
        Side{&kMutexKind, &g_mutex_table, &g_mutex_fraction, true});
  return std::make_unique<ContentionCollector>(
      Side{&kBlockKind, &g_block_table, &g_block_rate, false});
}

}  // namespace profagent
