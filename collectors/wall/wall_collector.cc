// Wall-clock collector: the sampler thread, the real probe (/proc, walker, signal slots) and
// the windows (see wall_collector.h). Normal context; the signal half is
// wall_signal_handler.cc.
#include "collectors/wall/wall_collector.h"

#include <time.h>

#include <cerrno>
#include <unistd.h>

#include "agent/runtime/private_files.h"
#include "agent/runtime/unwind/agent_frames.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/runtime/agent_thread.h"
#include "agent/core/contained.h"
#include "agent/core/clock.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/runtime/sampling_signal.h"
#include "collectors/common/self_stats.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/wakeup.h"
#include "collectors/wall/wall_signal_handler.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

// The real facts: /proc/self/task, the walker, and the wall signal slots.
class ProcWallProbe final : public WallProbe {
 public:
  explicit ProcWallProbe(int64_t answer_timeout) : answer_timeout_(answer_timeout) {}
  std::vector<pid_t> threads() override {
    std::vector<pid_t> out;
    for (pid_t tid : list_threads())
      if (!is_agent_thread(tid)) out.push_back(tid);
    return out;
  }
  ProcRead read_syscall(pid_t tid, ThreadSyscall* out) override {
    return read_thread_syscall(tid, out);
  }
  BlockedCapture capture_blocked(pid_t tid, uintptr_t* pcs, int max_frames) override {
    return capture_blocked_thread(tid, pcs, max_frames);
  }
  bool stopped_in_agent(const uintptr_t* pcs, int depth) override {
    return stopped_in_agent_code(pcs, depth);
  }
  void pause_nanos(int64_t nanos) override {
    timespec ts{0, static_cast<long>(nanos)};
    nanosleep(&ts, nullptr);
  }
  int ask_running(pid_t tid) override {
    int err = 0;
    int slot = g_wall_slots.ask(tid, &err);
    if (slot >= 0) return slot;
    return err == ESRCH ? kGone : kFailed;
  }
  void wait_answers(const std::vector<int>& tickets) override {
    g_wall_slots.wait(tickets.data(), tickets.size(), monotonic_nanos() + answer_timeout_);
  }
  int poll_answer(int ticket, uintptr_t* pcs, int max_frames) override {
    int depth = g_wall_slots.poll(ticket, pcs, max_frames);
    if (depth == WallSignalSlots::kPendingDepth) return kPending;
    if (depth == WallSignalSlots::kInAgentDepth) return kInAgent;
    return depth < 0 ? kFailed : depth;
  }
  void abandon(int ticket) override { g_wall_slots.abandon(ticket); }

 private:
  int64_t answer_timeout_;
};

int64_t thread_cpu_nanos() { return clock_nanos(CLOCK_THREAD_CPUTIME_ID); }

}  // namespace

bool WallCollector::start(const Config& config) {
  if (!g_wall_slots.init()) {
    log().warn("cannot map the wall profile's signal slots; wall profile is off");
    return false;
  }
  set_wall_sample_handler(&WallSignalSlots::handler);
  if (!install_sampling_signal()) return false;
  int64_t hz = config.value(kWallKind.name);
  hz_ = static_cast<int>(hz > 0 ? (hz > 1000 ? 1000 : hz) : kWallKind.setting.on_demand_value);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dump_window_ = WallWindow(unix_nanos(), monotonic_nanos());
    last_tick_mono_ = 0;
    stop_requested_ = false;
  }
  running_.store(true);
  if (start_thread() != 0) {
    running_.store(false);
    log().warn("cannot start the wall profile's sampler thread; wall profile is off");
    return false;
  }
  log_debug("wall profile at {} Hz per thread", hz_);
  return true;
}

int WallCollector::start_thread() {
  thread_pid_ = getpid();
  int rc = create_agent_thread(&thread_, &WallCollector::thread_body, this, "profagent-wall");
  thread_alive_ = rc == 0;
  return rc;
}

void WallCollector::end_thread() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = true;
  }
  wake_.notify_all();
  // At most one tick (answers wait 5 ms at most).
  if (thread_alive_ && thread_pid_ == getpid()) pthread_join(thread_, nullptr);
  thread_alive_ = false;
}

void WallCollector::stop() {
  running_.store(false);
  end_thread();
}

bool WallCollector::pause_thread() {
  if (!thread_alive_ || thread_pid_ != getpid()) return true;
  const pid_t tid = tid_of_thread(thread_);
  end_thread();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_requested_ = false;
  }
  if (tid != 0) wait_for_agent_thread_end(tid, 1000000000LL);  // joined is not yet gone
  return true;
}

void WallCollector::resume_thread() {
  if (!running_.load() || thread_alive_) return;
  if (int rc = start_thread(); rc == EINVAL) {
    // After unshare(CLONE_NEWPID) the kernel makes no thread in this process: expected.
    log_info("no wall sampler thread after unshare(CLONE_NEWPID); wall profile stops here");
  } else if (rc != 0) {
    log().warn("cannot restart the wall sampler thread (error {}); wall profile stops here", rc);
  }
}

void* WallCollector::thread_body(void* self) {
  enter_private_file_table();  // its /proc reads never take a number of the program's
  static_cast<WallCollector*>(self)->loop();
  return nullptr;
}

void WallCollector::add_tick(const std::vector<WallSample>& samples,
                             const std::vector<uintptr_t>& frames, const WallTickCounts& counts,
                             int64_t interval, double cost, int64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  last_tick_mono_ = now;
  auto add_all = [&](WallWindow& w) {
    for (WallSample s : samples) {
      s.pcs = frames.data() + reinterpret_cast<uintptr_t>(s.pcs);  // offsets into `frames`
      w.add(s);
    }
    w.note_tick(interval, counts.threads, cost);
    w.note_counts(counts.walks, counts.reused, counts.signalled, counts.lost);
  };
  add_all(dump_window_);
  for (auto& [id, w] : extra_windows_) add_all(w);
}


void WallCollector::loop() {
  // Walks need the unwind tables, which the dump thread builds ~2 ms after the agent starts
  // (at once, woken by this wait): no tick before them, or the first walk of a thread
  // blocked for good would be remembered without its stack (wall_sampler.h reuses it).
  wait_for_unwind_tables(1000 * 1000000LL);
  WallRate rate(hz_);
  ProcWallProbe probe(/*answer_timeout=*/5 * 1000 * 1000);  // late answers: next tick
  std::vector<WallSample> samples;
  std::vector<uintptr_t> frames;
  int64_t next = monotonic_nanos();
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto deadline = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(next));
      wake_.wait_until(lock, deadline, [this] { return stop_requested_; });
      if (stop_requested_) {
        sampler_.abandon_all(probe);
        return;
      }
    }
    const int64_t cpu_before = thread_cpu_nanos();
    const int64_t now = monotonic_nanos();
    const int64_t interval = rate.interval_nanos();
    // Out of memory: this tick's samples are lost, the next tick comes as usual.
    run_contained("taking a wall-clock tick", [&] {
      samples.clear();
      frames.clear();
      WallTickCounts counts;
      {
        AgentScope scope;
        counts = sampler_.tick(now, interval, probe, [&](const WallSample& s) {
          WallSample copy = s;
          copy.pcs = reinterpret_cast<const uintptr_t*>(frames.size());  // offset, see add_tick
          if (s.depth > 0) frames.insert(frames.end(), s.pcs, s.pcs + s.depth);
          samples.push_back(copy);
        });
      }
      const int64_t cost = thread_cpu_nanos() - cpu_before;
      rate.note_tick_cost(cost, counts.threads);
      add_tick(samples, frames, counts, interval, rate.tick_cost_nanos(), now);
      self_add_cost(SelfCost::kTick, cost);  // the agent's own background work
    });
    // Next tick one interval after this one; if the sampler fell behind, at once (the
    // weights carry the real elapsed time).
    next = now + rate.interval_nanos();
    int64_t after = monotonic_nanos();
    if (next < after) next = after;
  }
}

PROFAGENT_FORK_PATH void WallCollector::on_fork_child() noexcept {
  // The sampler thread does not exist in the child; on_tick starts a new one. The parent's
  // samples are the parent's. Another parent thread may have been changing the windows or
  // the sampler's table at the fork: they are re-made in place, never destroyed (a one-time
  // leak in the child beats freeing a half-updated map). No allocation here.
  new (&mutex_) std::mutex;
  new (&wake_) std::condition_variable;
  g_wall_slots.reset_after_fork();
  new (&sampler_) WallSampler;
  new (&dump_window_) WallWindow(unix_nanos(), monotonic_nanos());
  new (&extra_windows_) std::map<int, WallWindow>;
  thread_alive_ = false;
  stop_requested_ = false;
  last_tick_mono_ = 0;
  request_collector_tick();  // the child's dump thread ticks us: on_tick starts the sampler
}

void WallCollector::on_tick() {
  if (running_.load() && !thread_alive_ && thread_pid_ != getpid()) {
    if (start_thread() != 0) log().warn("cannot start the wall sampler thread in the forked child");
  }
}

std::optional<ProfileBuilder> WallCollector::snapshot(const DumpRequest& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  // The window ends at the dump, or at the last tick if the sampler added samples after the
  // dump began (the final dump runs other kinds first): Duration covers every sample.
  const int64_t end_mono = last_tick_mono_ > request.now_monotonic_nanos
                               ? last_tick_mono_
                               : request.now_monotonic_nanos;
  ProfileBuilder builder =
      dump_window_.build(hz_, end_mono, [](pid_t tid) { return thread_name(tid); });
  // The next window starts where the samples added so far end (the last tick), so a tick
  // that was under way during this dump lands whole in the next window: no time is lost or
  // counted twice at the boundary.
  int64_t start_mono = last_tick_mono_ > 0 ? last_tick_mono_ : request.now_monotonic_nanos;
  dump_window_ = WallWindow(request.now_unix_nanos - (request.now_monotonic_nanos - start_mono),
                            start_mono);
  return builder;
}

int WallCollector::open_window() {
  std::lock_guard<std::mutex> lock(mutex_);
  int id = next_window_id_++;
  extra_windows_[id] = WallWindow(unix_nanos(), monotonic_nanos());
  return id;
}

std::optional<ProfileBuilder> WallCollector::close_window(int id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = extra_windows_.find(id);
  if (it == extra_windows_.end()) return std::nullopt;
  ProfileBuilder builder =
      it->second.build(hz_, monotonic_nanos(), [](pid_t tid) { return thread_name(tid); });
  extra_windows_.erase(it);
  return builder;
}

}  // namespace profagent
