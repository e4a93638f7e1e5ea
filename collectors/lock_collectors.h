// Mutex profile (kind "mutex", PROFAGENT_MUTEX_FRACTION) and block profile (kind "block",
// PROFAGENT_BLOCK_RATE), pprof-semantics.md §4, §5.2, §5.3: start/stop switch the lock and
// wait hooks (lock_hooks.cc, wait_hooks.cc) on and off, snapshot writes the cumulative
// aggregate. Normal context; on_fork_child is async-signal-safe.
//
// Fork: the child forgets the parent's waiters (those threads do not exist in the child) and
// the parent's recorded events (they are in the parent's files already; keeping them would
// count them twice when parent and child profiles are merged). Hooks keep working in the
// child: tables are cleared and their spin locks re-made in place.
#pragma once

#include "agent/collector.h"

namespace profagent {

class MutexCollector final : public Collector {
 public:
  const char* kind() const override { return "mutex"; }
  bool wanted(const Config& config) const override { return config.mutex_fraction > 0; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

 private:
  bool started_ = false;
};

class BlockCollector final : public Collector {
 public:
  const char* kind() const override { return "block"; }
  bool wanted(const Config& config) const override { return config.block_rate > 0; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

 private:
  bool started_ = false;
};

}  // namespace profagent
