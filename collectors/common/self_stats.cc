// Self-accounting counters and their rendering into profiles (self_stats.h). The counters
// are constinit atomics so hooks and the signal handler may bump them at any time, even
// before this library's dynamic initialisers ran.
#include "collectors/common/self_stats.h"

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "agent/core/clock.h"
#include "agent/core/cost_clock.h"
#include "agent/core/sample_path.h"
#include "agent/profile/pprof/profile_builder.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr int kCosts = static_cast<int>(SelfCost::kCount);

struct Counters {
  std::atomic<int64_t> cost_nanos[kCosts];
  std::atomic<uint64_t> cost_ticks[kCosts];
  std::atomic<uint64_t> cost_events[kCosts];
  std::atomic<int64_t> start_unix{0};
  std::atomic<int64_t> start_mono{0};
};
constinit Counters g_counters{};

constexpr int kMaxSources = 8;
constinit std::atomic<SelfCommentSource> g_sources[kMaxSources]{};

const char* const kCostNames[kCosts] = {"signal_handler", "hooks", "tick", "dump", "push"};

}  // namespace

// "0ns", "512us", "2.10ms", "10.02s": short and unambiguous for a reader. fmt, not printf:
// a decimal point whatever locale the program set (sort under de_DE wrote "2,10ms").
std::string format_nanos(int64_t ns) {
  if (ns < 1000) return fmt::format("{}ns", ns);
  if (ns < 1000000) return fmt::format("{:.1f}us", ns / 1e3);
  if (ns < 1000000000) return fmt::format("{:.2f}ms", ns / 1e6);
  return fmt::format("{:.2f}s", ns / 1e9);
}

void self_add_cost(SelfCost cost, int64_t nanos, uint64_t events) noexcept {
  int i = static_cast<int>(cost);
  if (i < 0 || i >= kCosts) return;
  if (nanos > 0) g_counters.cost_nanos[i].fetch_add(nanos, std::memory_order_relaxed);
  if (events > 0) g_counters.cost_events[i].fetch_add(events, std::memory_order_relaxed);
}

PROFAGENT_SAMPLE_PATH
void self_add_cost_ticks(SelfCost cost, uint64_t ticks, uint64_t events) noexcept {
  int i = static_cast<int>(cost);
  if (i < 0 || i >= kCosts) return;
  // A difference of two TSC reads taken on different CPUs can go backwards where the TSC is
  // not synchronised (it then wraps): such a measure is dropped, not added as ~2^64.
  if (static_cast<int64_t>(ticks) > 0)
    g_counters.cost_ticks[i].fetch_add(ticks, std::memory_order_relaxed);
  if (events > 0) g_counters.cost_events[i].fetch_add(events, std::memory_order_relaxed);
}

void self_note_lost(LostCounter& lost, uint64_t events, int64_t weight) noexcept {
  lost.events.fetch_add(events, std::memory_order_relaxed);
  if (weight > 0) lost.weight.fetch_add(weight, std::memory_order_relaxed);
}

// The clocks read with system calls in line, once each (the CPU profile's first window
// starts here too): a start that reads no clock through the vDSO leaves its data page and
// libc's clock_gettime untouched, two page faults of every process that ends at once (a
// shell's `true`), for two system calls.
PROFAGENT_START_PATH
void self_stats_start() noexcept {
  const int64_t mono = clock_nanos_by_syscall(CLOCK_MONOTONIC);
  cost_clock_start(mono);
  g_counters.start_unix.store(clock_nanos_by_syscall(CLOCK_REALTIME), std::memory_order_relaxed);
  g_counters.start_mono.store(mono, std::memory_order_relaxed);
}

int64_t self_stats_start_unix_nanos() noexcept {
  return g_counters.start_unix.load(std::memory_order_relaxed);
}

int64_t self_stats_start_monotonic_nanos() noexcept {
  return g_counters.start_mono.load(std::memory_order_relaxed);
}

SelfSnapshot self_snapshot(std::span<const ProfileKind* const> kinds) {
  SelfSnapshot s;
  const double nanos_per_tick = cost_clock_nanos_per_tick();
  for (int i = 0; i < kCosts; ++i) {
    s.cost_nanos[i] = g_counters.cost_nanos[i].load(std::memory_order_relaxed) +
                      static_cast<int64_t>(
                          static_cast<double>(g_counters.cost_ticks[i].load(
                              std::memory_order_relaxed)) * nanos_per_tick);
    s.cost_events[i] = g_counters.cost_events[i].load(std::memory_order_relaxed);
  }
  for (const ProfileKind* kind : kinds) {
    if (kind->lost == nullptr) continue;
    s.lost.push_back({kind, kind->lost->events.load(std::memory_order_relaxed),
                      kind->lost->weight.load(std::memory_order_relaxed)});
  }
  int64_t start = g_counters.start_mono.load(std::memory_order_relaxed);
  s.wall_nanos = start != 0 ? monotonic_nanos() - start : 0;
  s.process_cpu_nanos = clock_nanos(CLOCK_PROCESS_CPUTIME_ID);
  return s;
}

PROFAGENT_START_PATH
void add_self_comment_source(SelfCommentSource source) {
  for (auto& slot : g_sources) {
    SelfCommentSource expected = nullptr;
    if (slot.load() == source) return;
    if (slot.compare_exchange_strong(expected, source)) return;
  }
}

std::vector<std::string> self_comments(const SelfSnapshot& s) {
  std::vector<std::string> lines;
  int64_t agent = 0;
  for (int i = 0; i < kCosts; ++i) agent += s.cost_nanos[i];
  std::string pct = fmt::format("{:.3f}%", s.process_cpu_nanos > 0
                                                ? 100.0 * static_cast<double>(agent) /
                                                      static_cast<double>(s.process_cpu_nanos)
                                                : 0.0);
  lines.push_back("profagent self: agent=" + format_nanos(agent) + " (" + pct +
                  " of process_cpu=" + format_nanos(s.process_cpu_nanos) +
                  ") over wall=" + format_nanos(s.wall_nanos) + " since start");
  std::string costs = "profagent self:";
  for (int i = 0; i < kCosts; ++i)
    costs += std::string(" ") + kCostNames[i] + "=" + format_nanos(s.cost_nanos[i]) + "/" +
             std::to_string(s.cost_events[i]);
  lines.push_back(costs);
  std::string lost = "profagent lost since start:";
  for (const SelfSnapshot::Lost& l : s.lost)
    lost += std::string(" ") + l.kind->name + "=" + std::to_string(l.events);
  lines.push_back(lost);
  for (auto& slot : g_sources) {
    SelfCommentSource source = slot.load();
    if (source == nullptr) break;
    std::string line = source();
    if (!line.empty()) lines.push_back(std::move(line));
  }
  return lines;
}

void add_self_accounting(ProfileBuilder& builder, const ProfileKind& kind,
                         const SelfSnapshot& snapshot, const std::vector<std::string>* comments) {
  if (comments != nullptr) {
    for (const std::string& line : *comments) builder.add_comment(line);
  } else {
    for (std::string& line : self_comments(snapshot)) builder.add_comment(std::move(line));
  }
  const SelfSnapshot::Lost* lost = snapshot.lost_of(kind);
  if (lost == nullptr || lost->events == 0) return;
  std::vector<int64_t> values(builder.shape().sample_types.size(), 0);
  if (values.empty()) return;
  values[0] = static_cast<int64_t>(lost->events);
  if (values.size() > 1) values[1] = lost->weight;
  builder.add_synthetic_sample(kind.lost_frame, values);
}

}  // namespace profagent
