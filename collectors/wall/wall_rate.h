// Rate control of the wall-clock sampler: keeps the sampler thread under a CPU budget (2% of
// one core) by lengthening the interval between ticks when the measured cost of a tick
// (which grows with the number of threads) would exceed it. Every thread is still sampled
// at every tick, so the effective per-thread rate is 1/interval; the lowered rate is reported
// in the profile's period and comments, never applied silently. Pure logic, normal context.
#pragma once

#include <cstdint>

namespace profagent {

class WallRate {
 public:
  static constexpr double kBudgetFraction = 0.02;  // of one core

  explicit WallRate(int requested_hz, double budget = kBudgetFraction)
      : nominal_(1000000000 / (requested_hz > 0 ? requested_hz : 1)), budget_(budget) {}

  // The sampler spent `cpu_nanos` of its own CPU time on one tick over `threads` threads.
  // The first tick is not counted: it pays one-time costs (first walks of every thread).
  void note_tick_cost(int64_t cpu_nanos, uint64_t threads) noexcept {
    if (cpu_nanos < 0) cpu_nanos = 0;
    threads_ = threads;
    if (!seen_first_) {
      seen_first_ = true;
      return;
    }
    cost_ = have_cost_ ? 0.8 * cost_ + 0.2 * static_cast<double>(cpu_nanos)
                       : static_cast<double>(cpu_nanos);
    have_cost_ = true;
  }

  // Nanoseconds between two ticks: the requested period, or longer if a tick costs more than
  // the budget allows at that rate.
  int64_t interval_nanos() const noexcept {
    double needed = cost_ / budget_;
    return needed > static_cast<double>(nominal_) ? static_cast<int64_t>(needed) : nominal_;
  }
  int64_t nominal_nanos() const noexcept { return nominal_; }
  bool lowered() const noexcept { return interval_nanos() > nominal_; }
  double tick_cost_nanos() const noexcept { return cost_; }
  uint64_t threads() const noexcept { return threads_; }

 private:
  int64_t nominal_;
  double budget_;
  double cost_ = 0;
  bool have_cost_ = false;
  bool seen_first_ = false;
  uint64_t threads_ = 0;
};

}  // namespace profagent
