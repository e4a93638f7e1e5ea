// Wall-clock profile (kind "wall", PROFAGENT_WALL_HZ): where every thread spends wall time,
// running or blocked. A sampler thread of the agent ticks at the requested rate (lowered when
// it would cost more than 2% of one core, and then said so in the profile) and samples every
// program thread (wall_sampler.h): blocked threads from /proc without a signal, running ones
// by signal. Each sample is weighted by the wall time since that thread's previous sample.
// The file dump is a delta since the previous dump (time and duration set, like cpu); HTTP
// windows (/debug/pprof/wall?seconds=N) are extra windows. Normal context.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

#include "collectors/common/collector.h"
#include "collectors/wall/wall_aggregate.h"
#include "collectors/wall/wall_kind.h"
#include "collectors/wall/wall_rate.h"
#include "collectors/wall/wall_sampler.h"

namespace profagent {

class WallCollector final : public Collector {
 public:
  const ProfileKind& descriptor() const override { return kWallKind; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  // Its sampler thread is started again by the dump thread's tick.
  bool needs_dump_thread_at_once() const override { return true; }
  bool pause_thread() override;
  void resume_thread() override;
  void on_tick() override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

  // Extra observation windows (HTTP /debug/pprof/wall?seconds=N), as CpuCollector's.
  int open_window() override;
  std::optional<ProfileBuilder> close_window(int id) override;
  bool running() const { return running_.load(); }

 private:
  static void* thread_body(void* self);
  void loop();
  int start_thread();  // 0, or pthread_create's error
  // Asks the sampler thread to end and joins it (if it runs in this process).
  void end_thread();
  void add_tick(const std::vector<WallSample>& samples, const std::vector<uintptr_t>& frames,
                const WallTickCounts& counts, int64_t interval, double cost, int64_t now);

  std::mutex mutex_;  // guards the windows and the stop flag
  std::condition_variable wake_;
  WallWindow dump_window_;
  std::map<int, WallWindow> extra_windows_;
  int next_window_id_ = 1;
  int hz_ = 0;
  std::atomic<bool> running_{false};
  bool stop_requested_ = false;
  // Set by the dump thread's tick (a fork child's first sampler) and by a namespace change's
  // pause and resume on a program thread.
  std::atomic<bool> thread_alive_{false};
  int64_t last_tick_mono_ = 0;  // `now` of the last tick added (guarded by mutex_)
  std::atomic<pid_t> thread_pid_{0};  // process the sampler was started in (fork detection)
  pthread_t thread_{};
  WallSampler sampler_;   // sampler thread only
};

}  // namespace profagent
