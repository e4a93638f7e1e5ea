// CPU profile (kind "cpu"): per-thread CPU-time timers deliver SIGPROF; the handler
// (cpu_signal_handler.cc) unwinds into a fixed-size buffer; the dump thread drains it into
// an aggregate and writes a delta profile per dump. This file pair is normal context.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <vector>

#include "collectors/common/collector.h"
#include "collectors/cpu/cpu_kind.h"
#include "collectors/cpu/cpu_timers.h"

namespace profagent {

class CpuCollector final : public Collector {
 public:
  const ProfileKind& descriptor() const override { return kCpuKind; }
  bool start(const Config& config) override;
  void finish_start() override;
  void stop() override;
  void on_thread_start() noexcept override;
  void on_thread_exit() noexcept override;
  void on_fork_child() noexcept override;
  void on_tick() override;
  bool nothing_to_write_at_exit(const DumpRequest& request) override;
  bool gathered_nothing() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

  // Extra observation windows besides the file dumps' own (an HTTP /profile?seconds=N
  // request, a push window): every sample drained while a window is open is added to it.
  // open_window returns its id; close_window returns its profile and forgets it.
  int open_window() override;
  std::optional<ProfileBuilder> close_window(int id) override;

 private:
  struct Key {
    int32_t tid;  // kLostTid / kAgentTid for the synthetic counts
    std::vector<uintptr_t> stack;
    bool operator<(const Key& o) const {
      return tid != o.tid ? tid < o.tid : stack < o.stack;
    }
  };
  struct Window {
    std::map<Key, uint64_t> samples;
    int64_t start_unix = 0;
    int64_t start_mono = 0;
    // The process it began in: in a fork child, a window copied from the parent began at the
    // fork (build() reads the fork's time then), so the fork handler writes nothing here.
    pid_t pid = 0;
  };
  static constexpr int32_t kLostTid = -1, kAgentTid = -2;
  // The one-frame stack of "[profagent: signals blocked]" samples (never a real PC).
  static constexpr uintptr_t kSignalsBlockedPc = ~uintptr_t{0};

  // Per-thread CPU bookkeeping for threads whose timer signal cannot be delivered (SIGPROF
  // really blocked): CPU not represented by samples yet, and periods charged to the
  // "[profagent: signals blocked]" frame that a late catch-up sample (its si_overrun) must
  // not count again.
  struct ThreadCpu {
    int64_t last_cpu = -1;
    int64_t unsampled = 0;
    uint64_t charged_periods = 0;
  };
  void charge_blocked_threads_locked(const std::map<int32_t, uint64_t>& sampled);

  void drain_locked();
  void add_locked(const Key& key, uint64_t count);
  ProfileBuilder build(const Window& window, int64_t now_mono) const;

  std::mutex mutex_;         // guards the windows (dump thread vs. tick vs. HTTP)
  Window dump_window_;       // samples since the last file dump
  std::map<int, Window> extra_windows_;
  std::map<int32_t, ThreadCpu> thread_cpu_;
  int next_window_id_ = 1;
  int64_t period_nanos_ = 10000000;
  bool running_ = false;
};

}  // namespace profagent
