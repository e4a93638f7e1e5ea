// The wall-clock profile's aggregate: samples of (thread, state, system call, stack) with a
// count and the wall time they stand for, kept per observation window (the file dumps' own
// window and any HTTP window), and turned into a pprof profile. Normal context (sampler
// thread adds, dump/HTTP threads read; callers hold the collector's mutex).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "agent/profile/pprof/profile_builder.h"

namespace profagent {

// kAgent: the thread was running the agent's own code (e.g. the exit dump), shown as one
// "[profagent]" frame as in the CPU profile.
enum class WallState : uint8_t { kRunning, kBlocked, kLost, kAgent };

// One sample: thread `tid` was in `state` (blocked in system call `syscall_nr`, -1 if none)
// at `stack` over the wall-time interval (start_mono, end_mono].
struct WallSample {
  pid_t tid = 0;
  WallState state = WallState::kLost;
  long syscall_nr = -1;
  const uintptr_t* pcs = nullptr;
  int depth = 0;
  int64_t start_mono = 0;
  int64_t end_mono = 0;
};

// The sampler's rate over a window (the profile's period and comments).
struct WallRateInfo {
  int requested_hz = 0;
  int64_t longest_interval_nanos = 0;   // lowest effective rate used in the window
  int64_t shortest_interval_nanos = 0;  // highest
  uint64_t max_threads = 0;             // most threads in one tick
  double tick_cost_nanos = 0;           // sampler CPU time per tick (moving average), last
  uint64_t walks = 0, reused = 0, signalled = 0, lost = 0;
};

class WallWindow {
 public:
  WallWindow() = default;
  WallWindow(int64_t start_unix, int64_t start_mono) : start_unix_(start_unix), start_mono_(start_mono) {}

  // Adds the part of the sample's interval that falls inside the window (nothing if none).
  void add(const WallSample& s);
  // The sampler's rate for one tick at interval `interval_nanos`, with `threads` threads.
  void note_tick(int64_t interval_nanos, uint64_t threads, double tick_cost_nanos);
  void note_counts(uint64_t walks, uint64_t reused, uint64_t signalled, uint64_t lost);

  int64_t start_unix() const { return start_unix_; }
  int64_t start_mono() const { return start_mono_; }
  size_t size() const { return samples_.size(); }

  struct Key {
    pid_t tid;
    WallState state;
    long syscall_nr;
    std::vector<uintptr_t> stack;
    bool operator<(const Key& o) const;
  };
  struct Value {
    int64_t count = 0;
    int64_t nanos = 0;
  };
  const std::map<Key, Value>& samples() const { return samples_; }
  const WallRateInfo& rate() const { return rate_; }

  // The profile of this window ending at `end_mono`; `name_of` gives a thread's name.
  ProfileBuilder build(int requested_hz, int64_t end_mono,
                       const std::function<std::string(pid_t)>& name_of) const;

 private:
  static constexpr size_t kMaxKeys = 1 << 20;  // beyond this, samples count as lost
  int64_t start_unix_ = 0;
  int64_t start_mono_ = 0;
  std::map<Key, Value> samples_;
  WallRateInfo rate_;
};

// The profile's period for a window: the requested one, or the longest interval used (the
// lowest effective rate) if the sampler had to lower it.
int64_t wall_period_nanos(int requested_hz, const WallRateInfo& rate);
// The comment line that states the requested and effective rate (and why it was lowered).
std::string wall_rate_comment(int requested_hz, const WallRateInfo& rate);

// The labels of one wall sample: tid, thread_name (if known), state, and syscall for a
// blocked sample in a known call.
std::vector<Label> wall_labels(pid_t tid, const std::string& thread_name, WallState state,
                               long syscall_nr);

}  // namespace profagent
