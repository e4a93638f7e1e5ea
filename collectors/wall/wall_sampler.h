// The wall-clock sampler's per-tick logic: at every tick, every thread of the program gets
// one sample weighted by the real wall time since its previous one.
//  - Blocked in the kernel: no signal. Its wait is read from /proc/self/task/TID/syscall; if
//    the line (call, arguments, SP, PC) is the one of its last walk, it is still in that
//    wait and the cached stack is reused; otherwise its stack is walked from the saved
//    registers and re-checked (thread_snapshot_blocked.h), retried, or counted lost. One
//    stopped in the agent's own code (a page fault in the CPU handler, or in libc's memcpy
//    the handler called) is charged to the agent, as a running thread answering from there is.
//  - Running: read again after a short pause (a thread that merely passes between two waits
//    is then blocked again and walked like one); one still running is asked by signal
//    (wall_signal_handler.h) to unwind itself. A thread /proc shows blocked is never signalled.
//    The request is a one-shot timer on the thread's CPU clock: it fires only while the
//    thread runs and lands on its way back to user space, never in a wait. A thread that has
//    not answered by the end of the tick (runnable, waiting for a CPU) is not asked again
//    while /proc shows it running: its answer then stands for the whole time since its
//    previous sample (it was at that place, waiting). One that went to sleep meanwhile is
//    taken back and sampled as blocked. After kMaxPendingNanos the request is given up and
//    that time is counted lost.
// The facts come from a WallProbe (the real one reads /proc, walks and signals; tests use
// fakes). Normal context, the wall sampler thread only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "agent/runtime/unwind/unwinder.h"
#include "collectors/threads/thread_snapshot_blocked.h"
#include "collectors/wall/wall_aggregate.h"

namespace profagent {

class WallProbe {
 public:
  virtual ~WallProbe() = default;
  // The program's threads (the agent's own left out).
  virtual std::vector<pid_t> threads() = 0;
  virtual ProcRead read_syscall(pid_t tid, ThreadSyscall* out) = 0;
  // Walks a blocked thread, re-checks, retries (capture_blocked_thread).
  virtual BlockedCapture capture_blocked(pid_t tid, uintptr_t* pcs, int max_frames) = 0;
  // True if a blocked thread walked to `pcs` is running the agent's own code (its time is
  // the agent's): stopped_in_agent_code (agent_frames.h).
  virtual bool stopped_in_agent(const uintptr_t* pcs, int depth) = 0;
  virtual void pause_nanos(int64_t nanos) = 0;
  // Asks a running thread by signal for its stack: a ticket, kGone if it exited, kFailed.
  static constexpr int kGone = -2, kFailed = -1;
  virtual int ask_running(pid_t tid) = 0;
  // Waits (bounded) until every ticket answered.
  virtual void wait_answers(const std::vector<int>& tickets) = 0;
  // The answer to a ticket: frames written to pcs, kInAgent (the thread was running the
  // agent's own code), kPending (not answered yet), or kFailed. A final answer frees it.
  static constexpr int kInAgent = -3, kPending = -4;
  virtual int poll_answer(int ticket, uintptr_t* pcs, int max_frames) = 0;
  virtual void abandon(int ticket) = 0;
};

struct WallTickCounts {
  uint64_t threads = 0;
  uint64_t walks = 0;      // blocked stacks walked
  uint64_t reused = 0;     // blocked stacks reused from the cache (no walk)
  uint64_t signalled = 0;  // running threads asked by signal
  uint64_t lost = 0;       // samples recorded as lost
};

class WallSampler {
 public:
  // Pause before re-reading a thread seen running (see above).
  static constexpr int64_t kRunningRecheckNanos = 50 * 1000;
  static constexpr int64_t kMaxPendingNanos = 1000 * 1000 * 1000;

  // One tick at `now_mono`; `interval_nanos` is the current interval between ticks (the
  // weight of a thread's first sample). Every sample goes to `sink`.
  WallTickCounts tick(int64_t now_mono, int64_t interval_nanos, WallProbe& probe,
                      const std::function<void(const WallSample&)>& sink);

  // Forgets every thread (fork child).
  void reset() { threads_.clear(); }
  // Gives up every open request (the sampler stops).
  void abandon_all(WallProbe& probe);
  size_t known_threads() const { return threads_.size(); }

 private:
  struct ThreadState {
    int64_t last_mono = 0;  // end of its previous sample
    uint64_t seen = 0;      // tick number it was last listed in
    bool cached = false;    // `wait` and `stack` are the last successful walk
    int ticket = -1;        // an open signal request (running thread), or -1
    int64_t asked_mono = 0;  // when it was asked
    ThreadSyscall wait;
    std::vector<uintptr_t> stack;
  };
  void emit(ThreadState& t, pid_t tid, WallState state, long nr, const uintptr_t* pcs, int depth,
            int64_t now_mono, const std::function<void(const WallSample&)>& sink);
  // Walks a thread /proc showed blocked. Returns false if it turned out to be running.
  // A thread with an open request: its answer, if it came (true: sampled, nothing more this
  // tick; false: still pending).
  bool harvest(pid_t tid, ThreadState& t, WallProbe& probe, int64_t now_mono,
               WallTickCounts& counts, const std::function<void(const WallSample&)>& sink);
  bool sample_blocked(pid_t tid, ThreadState& t, WallProbe& probe, int64_t now_mono,
                      WallTickCounts& counts, const std::function<void(const WallSample&)>& sink);
  // Samples a thread from its /proc read (lost, the same wait as cached, or a new walk).
  // True if the thread is running, or could not be walked, and must be asked instead.
  bool from_proc(pid_t tid, ThreadState& t, ProcRead r, const ThreadSyscall& wait,
                 WallProbe& probe, int64_t now_mono, WallTickCounts& counts,
                 const std::function<void(const WallSample&)>& sink);

  std::unordered_map<pid_t, ThreadState> threads_;
  uint64_t tick_number_ = 0;
};

}  // namespace profagent
