// Wall-clock aggregate and profile building (see wall_aggregate.h). Normal context.
#include "collectors/wall/wall_aggregate.h"

#include <cstdio>

#include <fmt/format.h>

#include "collectors/common/syscall_names.h"

namespace profagent {

bool WallWindow::Key::operator<(const Key& o) const {
  if (tid != o.tid) return tid < o.tid;
  if (state != o.state) return state < o.state;
  if (syscall_nr != o.syscall_nr) return syscall_nr < o.syscall_nr;
  return stack < o.stack;
}

void WallWindow::add(const WallSample& s) {
  int64_t start = s.start_mono > start_mono_ ? s.start_mono : start_mono_;
  if (s.end_mono <= start) return;  // the whole interval was before this window
  Key key{s.tid, s.state, s.state == WallState::kBlocked ? s.syscall_nr : -1,
          std::vector<uintptr_t>(s.pcs, s.pcs + (s.depth > 0 ? s.depth : 0))};
  if (s.state == WallState::kLost || s.state == WallState::kAgent) key = Key{s.tid, s.state, -1, {}};
  auto it = samples_.find(key);
  if (it == samples_.end()) {
    if (samples_.size() >= kMaxKeys) key = Key{s.tid, WallState::kLost, -1, {}};
    it = samples_.emplace(std::move(key), Value{}).first;
  }
  it->second.count += 1;
  it->second.nanos += s.end_mono - start;
}

void WallWindow::note_tick(int64_t interval_nanos, uint64_t threads, double tick_cost_nanos) {
  if (interval_nanos > rate_.longest_interval_nanos) rate_.longest_interval_nanos = interval_nanos;
  if (rate_.shortest_interval_nanos == 0 || interval_nanos < rate_.shortest_interval_nanos)
    rate_.shortest_interval_nanos = interval_nanos;
  if (threads > rate_.max_threads) rate_.max_threads = threads;
  rate_.tick_cost_nanos = tick_cost_nanos;
}

void WallWindow::note_counts(uint64_t walks, uint64_t reused, uint64_t signalled, uint64_t lost) {
  rate_.walks += walks;
  rate_.reused += reused;
  rate_.signalled += signalled;
  rate_.lost += lost;
}

std::vector<Label> wall_labels(pid_t tid, const std::string& thread_name, WallState state,
                               long syscall_nr) {
  std::vector<Label> labels;
  labels.push_back(ProfileBuilder::num_label("tid", tid));
  if (!thread_name.empty()) labels.push_back(ProfileBuilder::str_label("thread_name", thread_name));
  labels.push_back(
      ProfileBuilder::str_label("state", state == WallState::kRunning ? "running" : "blocked"));
  if (state == WallState::kBlocked && syscall_nr >= 0)
    labels.push_back(ProfileBuilder::str_label("syscall", syscall_label(syscall_nr)));
  return labels;
}

namespace {

// fmt, not printf: a decimal point whatever locale the program set.
std::string hz_text(int64_t interval_nanos) {
  double hz = 1e9 / static_cast<double>(interval_nanos);
  return hz >= 10 ? fmt::format("{:.0f} Hz", hz) : fmt::format("{:.2f} Hz", hz);
}

}  // namespace

int64_t wall_period_nanos(int requested_hz, const WallRateInfo& rate) {
  const int64_t nominal = 1000000000 / (requested_hz > 0 ? requested_hz : 1);
  return rate.longest_interval_nanos > nominal ? rate.longest_interval_nanos : nominal;
}

std::string wall_rate_comment(int requested_hz, const WallRateInfo& rate) {
  const int64_t nominal = 1000000000 / (requested_hz > 0 ? requested_hz : 1);
  std::string text = "profagent wall: " + std::to_string(requested_hz) +
                     " Hz per thread requested (PROFAGENT_WALL_HZ)";
  if (wall_period_nanos(requested_hz, rate) <= nominal) return text + "; sampled at the full rate";
  std::string cost = fmt::format("{:.0f} us", rate.tick_cost_nanos / 1e3);
  std::string highest = rate.shortest_interval_nanos > nominal
                            ? hz_text(rate.shortest_interval_nanos)
                            : std::to_string(requested_hz) + " Hz";
  return text + "; effective rate LOWERED to " + hz_text(rate.longest_interval_nanos) + " (up to " +
         highest + ") per thread in this window, to keep the sampler under 2% of one core (" +
         std::to_string(rate.max_threads) + " threads, " + cost +
         " of sampler CPU per tick); the period is the lowest rate's";
}

ProfileBuilder WallWindow::build(int requested_hz, int64_t end_mono,
                                 const std::function<std::string(pid_t)>& name_of) const {
  ProfileBuilder builder(ProfileShape{{{"samples", "count"}, {"wall", "nanoseconds"}},
                                      {"wall", "nanoseconds"},
                                      wall_period_nanos(requested_hz, rate_),
                                      ""});
  builder.set_time(start_unix_, end_mono - start_mono_);
  builder.add_comment(wall_rate_comment(requested_hz, rate_));
  builder.add_comment("profagent wall: " + std::to_string(rate_.walks) +
                      " blocked stacks walked without a signal, " + std::to_string(rate_.reused) +
                      " reused (same wait as the previous walk), " +
                      std::to_string(rate_.signalled) + " running threads asked by signal, " +
                      std::to_string(rate_.lost) + " samples lost");

  std::map<pid_t, std::string> names;
  for (const auto& [key, value] : samples_) {
    int64_t values[2] = {value.count, value.nanos};
    auto it = names.find(key.tid);
    if (it == names.end()) it = names.emplace(key.tid, name_of(key.tid)).first;
    if (key.state == WallState::kLost || key.state == WallState::kAgent) {
      std::vector<Label> labels;
      labels.push_back(ProfileBuilder::num_label("tid", key.tid));
      if (!it->second.empty())
        labels.push_back(ProfileBuilder::str_label("thread_name", it->second));
      if (key.state == WallState::kAgent)
        labels.push_back(ProfileBuilder::str_label("state", "running"));
      builder.add_synthetic_sample(
          key.state == WallState::kLost ? "[profagent: lost]" : "[profagent]", values,
          std::move(labels));
      continue;
    }
    std::vector<uint64_t> stack(key.stack.begin(), key.stack.end());
    builder.add_sample(stack, values, wall_labels(key.tid, it->second, key.state, key.syscall_nr));
  }
  return builder;
}

}  // namespace profagent
