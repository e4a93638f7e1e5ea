// Thread stack capture (see thread_snapshot.h): blocked threads walked from /proc without a
// signal, running ones asked by a one-shot timer on their CPU clock. handler() is SIGNAL CONTEXT; the rest is normal context
// except reset_after_fork (async-signal-safe).
#include "collectors/threads/thread_snapshot.h"

#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <atomic>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/core/log.h"
#include "agent/runtime/fresh_stack.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwinder.h"
#include "collectors/threads/thread_snapshot_blocked.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr uint32_t kIdle = 0, kRequested = 1, kWriting = 2, kDone = 3, kAbandoned = 4;
constexpr uint32_t kGenerationMask = 0x7ff;  // 11 bits: cookie = gen << 20 | index
constexpr uint32_t kIndexBits = 20;

constexpr uint32_t state_of(uint32_t generation, uint32_t phase) { return generation << 3 | phase; }
constexpr uint32_t phase_of(uint32_t state) { return state & 7; }

std::atomic<void*> g_published_slots{nullptr};
std::atomic<uint32_t> g_published_count{0};

void sleep_nanos(int64_t nanos) {
  timespec ts{0, static_cast<long>(nanos)};
  nanosleep(&ts, nullptr);
}

constexpr int64_t kRecheckNanos = 1000 * 1000;

CapturedThread from_blocked(pid_t tid, const BlockedCapture& b, const uintptr_t* pcs) {
  CapturedThread t;
  t.tid = tid;
  t.blocked = true;
  if (b.outcome == BlockedCapture::Outcome::kCaptured) {
    t.answered = true;
    if (b.syscall.kind == ThreadSyscall::Kind::kInSyscall) t.syscall_nr = b.syscall.nr;
    // A thread waiting in the agent's own termination handler (for the dump thread to write
    // this dump) is shown where the signal found it; its system call is not known then.
    int program_part = first_frame_below_agent_handler(pcs, b.depth);
    if (program_part > 0) t.syscall_nr = -1;
    t.stack.assign(pcs + program_part, pcs + b.depth);
  } else {
    t.lost = true;
  }
  return t;
}

}  // namespace

// A thread asked by timer that is now blocked (or gone): closes its request (only if its
// handler has not started) and walks it. True if settled; `t` then holds the result, with
// tid 0 if the thread exited. False with *rearm: it ran again during the walk, its request is
// open again and needs a new timer.
bool ThreadSnapshotter::settle_if_asleep(pid_t tid, uint32_t gen, Slot& slot, uintptr_t* pcs,
                                         CapturedThread* t, bool* rearm) noexcept {
  *rearm = false;
  ThreadSyscall now;
  ProcRead r = read_thread_syscall(tid, &now);
  if (r == ProcRead::kOk && now.kind == ThreadSyscall::Kind::kRunning) return false;
  if (r == ProcRead::kUnreadable) return false;
  uint32_t expected = state_of(gen, kRequested);
  if (!slot.state.compare_exchange_strong(expected, state_of(gen, kIdle),
                                          std::memory_order_acq_rel))
    return false;  // its handler is answering
  if (r == ProcRead::kGone) {
    t->tid = 0;
    return true;
  }
  BlockedCapture b = capture_blocked_thread(tid, pcs, kMaxFrames);
  if (b.outcome == BlockedCapture::Outcome::kGone) {
    t->tid = 0;
    return true;
  }
  if (b.outcome == BlockedCapture::Outcome::kRunning) {
    // It woke up meanwhile: open its request again; the caller arms a fresh timer.
    slot.depth = 0;
    slot.state.store(state_of(gen, kRequested), std::memory_order_release);
    *rearm = true;
    return false;
  }
  *t = from_blocked(tid, b, pcs);
  return true;
}

constinit ThreadSnapshotter g_thread_snapshotter;

bool ThreadSnapshotter::init(uint32_t max_threads) noexcept {
  if (slots_ != nullptr) return true;
  if (max_threads == 0 || max_threads >= (1u << kIndexBits)) max_threads = kDefaultMaxThreads;
  void* p = mmap(nullptr, sizeof(Slot) * max_threads, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  slots_ = static_cast<Slot*>(p);  // zero pages: every slot idle, generation 0
  max_threads_ = max_threads;
  g_published_count.store(max_threads, std::memory_order_relaxed);
  g_published_slots.store(p, std::memory_order_release);
  return true;
}

void ThreadSnapshotter::handler(siginfo_t* info, void* ucontext) noexcept {
  auto* slots = static_cast<Slot*>(g_published_slots.load(std::memory_order_acquire));
  if (slots == nullptr || info == nullptr) return;
  uint32_t cookie = static_cast<uint32_t>(info->si_value.sival_int);
  uint32_t index = cookie & ((1u << kIndexBits) - 1);
  uint32_t generation = (cookie >> kIndexBits) & kGenerationMask;
  if (index >= g_published_count.load(std::memory_order_relaxed)) return;
  Slot& slot = slots[index];
  uint32_t expected = state_of(generation, kRequested);
  if (!slot.state.compare_exchange_strong(expected, state_of(generation, kWriting),
                                          std::memory_order_acquire))
    return;  // a late answer to a request that was given up, or not ours
  slot.depth = unwind_from_signal(ucontext, slot.pcs, kMaxFrames);
  slot.state.store(state_of(generation, kDone), std::memory_order_release);
}

std::vector<CapturedThread> ThreadSnapshotter::capture(const std::vector<pid_t>& tids,
                                                       int64_t timeout_nanos) {
  std::vector<CapturedThread> out;
  if (slots_ == nullptr && !init()) {
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      log().warn("threads profile: cannot map its slots; running threads are left out");
    return out;
  }
  unwind_tables_refresh();  // a module loaded since the last tick gets its tables
  generation_ = (generation_ + 1) & kGenerationMask;
  if (generation_ == 0) generation_ = 1;
  const uint32_t gen = generation_;

  struct Request {
    size_t out_index;
    uint32_t slot;
    pid_t tid;
    timer_t timer;
    bool timer_live;
    bool settled;  // walked after all (it went to sleep), or gone
  };
  std::vector<Request> requests;
  std::vector<bool> gone;  // by out index: exited during the capture
  requests.reserve(tids.size());
  out.reserve(tids.size());
  uint32_t next_slot = 0;
  uintptr_t pcs[kMaxFrames];
  const pid_t self = current_tid();
  for (pid_t tid : tids) {
    // The thread taking the snapshot (a program thread dumping at exit, or one serving a
    // dump request) is running, here: it walks its own stack (agent frames left out). Read
    // from /proc it would look blocked in the read of its own syscall file.
    if (tid == self) {
      CapturedThread t{.tid = tid, .answered = true};
      const uintptr_t* before = nullptr;
      int depth = 0;
      if (stack_before_switch(&before, &depth)) {
        // The exit dump on a fresh stack (agent/runtime/fresh_stack.h): where the thread was.
        t.stack.assign(before, before + depth);
      } else {
        depth = unwind_from_hook(pcs, kMaxFrames);
        t.stack.assign(pcs, pcs + depth);
      }
      out.push_back(std::move(t));
      gone.push_back(false);
      continue;
    }
    // A thread in the kernel is walked from its saved registers, never signalled: a signal
    // would make its wait return early (EINTR).
    BlockedCapture blocked = capture_blocked_thread(tid, pcs, kMaxFrames);
    if (blocked.outcome == BlockedCapture::Outcome::kGone) continue;
    if (blocked.outcome != BlockedCapture::Outcome::kRunning) {
      out.push_back(from_blocked(tid, blocked, pcs));
      gone.push_back(false);
      continue;
    }
    // Running: a one-shot timer on its CPU clock asks it, so the request can only arrive
    // while it runs (see arm_cpu_clock_request). Skip slots whose handler from an older request
    // is still writing.
    while (next_slot < max_threads_ &&
           phase_of(slots_[next_slot].state.load(std::memory_order_acquire)) == kWriting)
      ++next_slot;
    out.push_back(CapturedThread{.tid = tid});
    gone.push_back(false);
    if (next_slot >= max_threads_) continue;
    if (next_slot >= slots_used_) slots_used_ = next_slot + 1;
    Slot& slot = slots_[next_slot];
    slot.depth = 0;
    slot.state.store(state_of(gen, kRequested), std::memory_order_release);
    timer_t timer;
    if (arm_cpu_clock_request(tid, gen << kIndexBits | next_slot, &timer) != 0) {
      slot.state.store(state_of(gen, kIdle), std::memory_order_release);
      ThreadSyscall now;
      if (read_thread_syscall(tid, &now) == ProcRead::kGone) gone.back() = true;
      continue;
    }
    requests.push_back(Request{out.size() - 1, next_slot, tid, timer, true, false});
    ++next_slot;
  }

  // Wait for every answer, bounded. A requested thread that went to sleep before it ran
  // again never fires its timer: every millisecond such threads are taken back (their slot
  // closed, their timer deleted) and walked like any blocked thread.
  const int64_t deadline = monotonic_nanos() + timeout_nanos;
  int64_t next_recheck = monotonic_nanos() + kRecheckNanos;
  for (;;) {
    bool pending = false;
    const bool recheck = monotonic_nanos() >= next_recheck;
    for (Request& r : requests) {
      if (r.settled) continue;
      Slot& slot = slots_[r.slot];
      uint32_t phase = phase_of(slot.state.load(std::memory_order_acquire));
      if (phase != kRequested && phase != kWriting) continue;
      bool rearm = false;
      if (phase == kRequested && recheck &&
          settle_if_asleep(r.tid, gen, slot, pcs, &out[r.out_index], &rearm)) {
        timer_delete(r.timer);
        r.timer_live = false;
        r.settled = true;
        if (out[r.out_index].tid == 0) gone[r.out_index] = true;
        continue;
      }
      if (rearm) {
        timer_delete(r.timer);
        const int e = arm_cpu_clock_request(r.tid, gen << kIndexBits | r.slot, &r.timer);
        r.timer_live = e == 0;
        uint32_t expected = state_of(gen, kRequested);
        if (e == EAGAIN && slot.state.compare_exchange_strong(  // holds SIGPROF: no answer
                               expected, state_of(gen, kIdle), std::memory_order_acq_rel)) {
          r.settled = true;
          continue;
        }
      }
      pending = true;
    }
    if (recheck) next_recheck = monotonic_nanos() + kRecheckNanos;
    if (!pending || monotonic_nanos() >= deadline) break;
    sleep_nanos(200 * 1000);
  }
  // Give up on requests never started; let handlers already writing finish (briefly).
  for (Request& r : requests) {
    if (r.settled) continue;
    Slot& slot = slots_[r.slot];
    uint32_t expected = state_of(gen, kRequested);
    slot.state.compare_exchange_strong(expected, state_of(gen, kAbandoned),
                                       std::memory_order_acq_rel);
    if (r.timer_live) timer_delete(r.timer);  // a signal already queued finds "abandoned"
    r.timer_live = false;
    for (int i = 0; i < 50 && phase_of(slot.state.load(std::memory_order_acquire)) == kWriting;
         ++i)
      sleep_nanos(200 * 1000);
    if (slot.state.load(std::memory_order_acquire) == state_of(gen, kDone)) {
      CapturedThread& t = out[r.out_index];
      t.answered = true;
      int depth = slot.depth < 0 ? 0 : (slot.depth > kMaxFrames ? kMaxFrames : slot.depth);
      t.stack.assign(slot.pcs, slot.pcs + depth);
      slot.state.store(state_of(gen, kIdle), std::memory_order_release);
    }
  }
  std::vector<CapturedThread> live;
  live.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i)
    if (!gone[i]) live.push_back(std::move(out[i]));
  return live;
}

PROFAGENT_FORK_PATH void ThreadSnapshotter::reset_after_fork() noexcept {
  if (slots_ == nullptr) return;
  // Only slots ever requested are looked at: the rest were never touched, and reading them
  // would fault in every page of the table in each forked child (a shell's every command).
  for (uint32_t i = 0; i < slots_used_ && i < max_threads_; ++i)
    if (slots_[i].state.load(std::memory_order_relaxed) != 0)
      slots_[i].state.store(0, std::memory_order_relaxed);
}

}  // namespace profagent
