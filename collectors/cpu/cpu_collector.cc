// CPU profile collector: timers on, drain the handler's buffer on every tick, write one
// delta profile per dump (docs/pprof-semantics.md §4 cpu, §5.4). Normal context.
#include "collectors/cpu/cpu_collector.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/core/proc_status.h"
#include "agent/core/process_id.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/threads/thread_registry.h"
#include "collectors/common/self_stats.h"
#include "collectors/cpu/cpu_signal_handler.h"
#include "agent/core/fork_gate.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

constinit CpuTimers g_timers;

// The calling thread began (true) or ended holding SIGPROF (signal_mask.h). Hook and signal
// context.
bool hold_current_thread_timer(bool held) noexcept { return g_timers.hold_current_thread(held); }

constexpr size_t kMaxAggregateStacks = 1 << 20;  // beyond this, samples count as lost

// Whether thread `tid` of this process has SIGPROF really blocked now (SigBlk in its
// /proc status).
bool sigprof_blocked_in(pid_t tid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  std::optional<uint64_t> mask = proc_status_hex(path, "SigBlk");
  return mask && ((*mask >> (kSamplingSignal - 1)) & 1);
}

}  // namespace

PROFAGENT_START_PATH
bool CpuCollector::start(const Config& config) {
  CpuHandlerState& state = cpu_handler_state();
  // (The sample buffer is mapped by the first sample, or by the dump thread's start:
  // finish_start. One that cannot be mapped then counts its samples as lost.)
  period_nanos_ = 1000000000 / config.value(kCpuKind.name);
  g_timers.set_period(period_nanos_);
  set_cpu_sample_handler(cpu_sample_handler);
  if (!install_sampling_signal()) return false;
  set_sigprof_hold_listener(hold_current_thread_timer);
  // (At the agent's start, its own start time: no clock read. Later, an observation window's
  // start, now.)
  const bool agent_starting = t_start_pid != 0;
  dump_window_.start_unix = agent_starting ? self_stats_start_unix_nanos() : unix_nanos();
  dump_window_.start_mono = agent_starting ? self_stats_start_monotonic_nanos()
                                           : monotonic_nanos();
  dump_window_.pid = own_pid();
  state.active.store(true, std::memory_order_release);
  running_ = true;
  g_timers.arm_existing_threads();
  log_debug("CPU profile at {} Hz ({} timers)", config.value(kCpuKind.name),
            g_timers.live_timers());
  return true;
}

void CpuCollector::finish_start() {
  std::lock_guard<std::mutex> lock(mutex_);  // drains touch ahead too (touched_ is shared)
  cpu_handler_state().buffer.prepare();
}

void CpuCollector::stop() {
  cpu_handler_state().active.store(false, std::memory_order_release);
  g_timers.disarm_all();
  running_ = false;
}

void CpuCollector::on_thread_start() noexcept {
  if (running_ && cpu_handler_state().active.load(std::memory_order_acquire))
    g_timers.arm_current_thread();
}

void CpuCollector::on_thread_exit() noexcept { g_timers.disarm_current_thread(); }

PROFAGENT_FORK_PATH void CpuCollector::on_fork_child() noexcept {
  // Timers are not inherited; the parent's samples are the parent's. The child starts its
  // own window where the fork began (no clock call: fork_gate.h) and re-arms a timer for its
  // only thread.
  CpuHandlerState& state = cpu_handler_state();
  state.buffer.clear();
  store_if_changed(state.lost, 0);
  store_if_changed(state.in_agent, 0);
  // Each written only if it changes (fork_reset.h): a map another thread could have been
  // changing is one whose lock was held at the fork.
  const bool lock_was_held = !lock_is_fresh(mutex_);
  remake_lock_if_used(mutex_);
  // The parent's windows, when not empty or possibly mid-change, are made anew in place, never
  // destroyed (as the wall collector's):
  // the parent's dump or HTTP thread may have been changing them at the fork, and freeing a
  // half-updated map could crash the child; and freeing them cost every fork child a
  // copy-on-write fault per page of the parent's aggregate, ~80 us for 4,000 stacks before an
  // exec that drops them anyway. A child that lives on leaks them once. No allocation here.
  if (lock_was_held || !dump_window_.samples.empty())
    new (&dump_window_.samples) std::map<Key, uint64_t>;
  if (lock_was_held || !extra_windows_.empty()) new (&extra_windows_) std::map<int, Window>;
  if (lock_was_held || !thread_cpu_.empty()) new (&thread_cpu_) std::map<int32_t, ThreadCpu>;
  // (The window's start: the fork's, read by build(), Window::pid.) The new timer's first
  // expiration is drawn from the fork's monotonic time (a clock read if none was noted).
  int64_t fork_mono = last_fork_monotonic_nanos();
  if (fork_mono == 0) fork_mono = monotonic_nanos();
  // Last: a sample the new timer delivers finds the rest reset.
  g_timers.reset_after_fork(running_ && state.active.load(), static_cast<uint64_t>(fork_mono));
}

void CpuCollector::add_locked(const Key& key, uint64_t count) {
  if (dump_window_.samples.size() < kMaxAggregateStacks || dump_window_.samples.count(key))
    dump_window_.samples[key] += count;
  else
    dump_window_.samples[Key{kLostTid, {}}] += count;
  for (auto& [id, window] : extra_windows_) {
    if (window.samples.size() < kMaxAggregateStacks || window.samples.count(key))
      window.samples[key] += count;
    else
      window.samples[Key{kLostTid, {}}] += count;
  }
}

void CpuCollector::drain_locked() {
  CpuHandlerState& state = cpu_handler_state();
  std::map<int32_t, uint64_t> sampled;  // periods added per thread in this drain
  state.buffer.drain([&](int32_t tid, const uintptr_t* pcs, uint32_t depth, uint64_t count) {
    // A thread whose SIGPROF was blocked gets one late signal carrying every missed period
    // (si_overrun): the periods already charged to "signals blocked" are not counted twice.
    auto it = thread_cpu_.find(tid);
    if (it != thread_cpu_.end() && it->second.charged_periods > 0 && count > 1) {
      uint64_t take = std::min<uint64_t>(it->second.charged_periods, count - 1);
      it->second.charged_periods -= take;
      count -= take;
    }
    sampled[tid] += count;
    if (depth == 1 && pcs[0] == kInAgentPc)
      add_locked(Key{kAgentTid, {}}, count);  // "[profagent]", the thread's CPU all the same
    else
      add_locked(Key{tid, std::vector<uintptr_t>(pcs, pcs + depth)}, count);
  });
  charge_blocked_threads_locked(sampled);
  if (uint64_t lost = state.lost.exchange(0)) add_locked(Key{kLostTid, {}}, lost);
  if (uint64_t agent = state.in_agent.exchange(0)) add_locked(Key{kAgentTid, {}}, agent);
}

void CpuCollector::charge_blocked_threads_locked(const std::map<int32_t, uint64_t>& sampled) {
  std::map<int32_t, ThreadCpu> seen;
  for (const CpuTimers::Armed& armed : g_timers.live_threads()) {
    pid_t tid = armed.tid;
    int64_t cpu = CpuTimers::thread_cpu_nanos(tid);
    if (cpu < 0) continue;  // ended: forgotten
    auto old = thread_cpu_.find(tid);
    ThreadCpu t = old != thread_cpu_.end() ? old->second : ThreadCpu{};
    if (t.last_cpu < 0) t.last_cpu = armed.armed_cpu;  // first look: count from the arming
    // A timer stopped for a hold brings no late signal for the periods charged: none is
    // held back for one (it would be taken off later samples of the thread, ~100 ms of a
    // burn that followed 5,000 sigtimedwait rounds).
    const bool no_late_signal = g_timers.take_stopped_for_hold(armed);
    if (no_late_signal) t.charged_periods = 0;
    auto s = sampled.find(tid);
    uint64_t periods = s != sampled.end() ? s->second : 0;
    if (t.last_cpu >= 0)
      t.unsampled += (cpu - t.last_cpu) - static_cast<int64_t>(periods) * period_nanos_;
    t.last_cpu = cpu;
    if (t.unsampled >= 2 * period_nanos_ && sigprof_blocked_in(tid)) {
      // No sample can be taken: the thread's own CPU clock says how much it used.
      uint64_t n = static_cast<uint64_t>(t.unsampled / period_nanos_);
      add_locked(Key{tid, {kSignalsBlockedPc}}, n);
      if (!no_late_signal) t.charged_periods += n;
      t.unsampled -= static_cast<int64_t>(n) * period_nanos_;
    }
    // Sampling jitter stays within a couple of periods; more is someone else's to count
    // (lost samples), never a later "signals blocked" charge.
    t.unsampled = std::clamp(t.unsampled, -2 * period_nanos_, 2 * period_nanos_);
    seen[tid] = t;
  }
  thread_cpu_ = std::move(seen);
}

void CpuCollector::on_tick() {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_locked();
  g_timers.sweep_dead_threads();
}
// (snapshot() drains too, and sweeps: threads that existed before the agent have no exit
// hook, and an idle process gets no ticks.)

ProfileBuilder CpuCollector::build(const Window& window, int64_t now_mono) const {
  ProfileBuilder builder(shape_of(kCpuKind, period_nanos_));
  int64_t start_unix = window.start_unix, start_mono = window.start_mono;
  if (window.pid != own_pid()) {  // a fork child's first window: it began at the fork
    ForkTime fork = last_fork_time();
    if (fork.monotonic_nanos != 0) {
      start_unix = fork.unix_nanos;
      start_mono = fork.monotonic_nanos;
    }
  }
  builder.set_time(start_unix, now_mono - start_mono);
  std::map<int32_t, std::string> names;
  for (const auto& [key, count] : window.samples) {
    int64_t values[2] = {static_cast<int64_t>(count), static_cast<int64_t>(count) * period_nanos_};
    if (key.stack.size() == 1 && key.stack[0] == kSignalsBlockedPc) {
      std::vector<Label> labels = {ProfileBuilder::num_label("tid", key.tid)};
      std::string name = thread_name(key.tid);
      if (!name.empty()) labels.push_back(ProfileBuilder::str_label("thread_name", name));
      builder.add_synthetic_sample("[profagent: signals blocked]", values, std::move(labels));
      continue;
    }
    if (key.tid == kLostTid || key.tid == kAgentTid) {
      builder.add_synthetic_sample(key.tid == kLostTid ? kCpuKind.lost_frame : "[profagent]",
                                   values);
      continue;
    }
    auto it = names.find(key.tid);
    if (it == names.end()) it = names.emplace(key.tid, thread_name(key.tid)).first;
    std::vector<uint64_t> stack(key.stack.begin(), key.stack.end());
    std::vector<Label> labels = {ProfileBuilder::num_label("tid", key.tid)};
    if (!it->second.empty()) labels.push_back(ProfileBuilder::str_label("thread_name", it->second));
    builder.add_sample(stack, values, std::move(labels));
  }
  return builder;
}

PROFAGENT_START_PATH
bool CpuCollector::nothing_to_write_at_exit(const DumpRequest&) {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_locked();  // lost and in-agent samples are counted in the window too
  return dump_window_.samples.empty();
}

PROFAGENT_START_PATH bool CpuCollector::gathered_nothing() noexcept {
  const CpuHandlerState& state = cpu_handler_state();
  if (!state.buffer.empty() || state.lost.load() != 0 || state.in_agent.load() != 0)
    return false;
  // A drain charges a thread that keeps SIGPROF blocked with its unsampled CPU time, from
  // two periods on: none can have that while the whole process used less.
  // (A CPU clock is a system call either way: in line, not through libc and the vDSO.)
  timespec used{};
  if (raw_syscall(SYS_clock_gettime, CLOCK_PROCESS_CPUTIME_ID, reinterpret_cast<long>(&used)) !=
          0 ||
      used.tv_sec * 1000000000LL + used.tv_nsec >= 2 * period_nanos_)
    return false;
  std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);  // (never waited for)
  return lock.owns_lock() && dump_window_.samples.empty();
}

std::optional<ProfileBuilder> CpuCollector::snapshot(const DumpRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_locked();
  g_timers.sweep_dead_threads();
  ProfileBuilder builder = build(dump_window_, request.now_monotonic_nanos);
  dump_window_ = Window{};
  dump_window_.start_unix = request.now_unix_nanos;
  dump_window_.start_mono = request.now_monotonic_nanos;
  dump_window_.pid = own_pid();
  return builder;
}

int CpuCollector::open_window() {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_locked();  // samples from before the window belong to the windows already open
  int id = next_window_id_++;
  Window& w = extra_windows_[id];
  w.start_unix = unix_nanos();
  w.start_mono = monotonic_nanos();
  w.pid = own_pid();
  return id;
}

std::optional<ProfileBuilder> CpuCollector::close_window(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  drain_locked();
  auto it = extra_windows_.find(id);
  if (it == extra_windows_.end()) return std::nullopt;
  ProfileBuilder builder = build(it->second, monotonic_nanos());
  extra_windows_.erase(it);
  return builder;
}

}  // namespace profagent
