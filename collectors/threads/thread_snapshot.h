// The threads profile's capture protocol. A thread blocked in the kernel is never signalled:
// the dump thread walks its stack from the registers /proc saved for it
// (thread_snapshot_blocked.h), so no wait of the program returns early. Only a thread that is
// running is asked for its stack, by a one-shot timer on its own CPU clock that sends SIGPROF
// with a cookie (it can only fire while the thread runs, and lands on its way back to user
// space, never in a wait); the thread unwinds itself in the signal handler into a
// preallocated slot, and the dump thread waits for the answers, time-bounded. A thread asked
// that goes to sleep before it ran again is taken back and walked instead.
//
// Slot states are (generation << 3 | phase) in one atomic word: idle → requested (dump
// thread, before arming the timer) → writing (handler, by CAS, only if the generation in the
// cookie is the current request's) → done (handler). At the deadline the dump thread CASes
// requested → abandoned, so a late signal (a thread that had SIGPROF blocked) finds nothing
// to write and returns; a slot still "writing" is waited for a little longer and otherwise
// left out of later requests until its handler finishes. No lock is shared between the
// handler and the dump thread.
//
// handler(): SIGNAL CONTEXT (async-signal-safe: atomics, the tid syscall, the agent's
// signal-frame unwind; no allocation, no lock). init()/capture(): normal context.
// reset_after_fork(): async-signal-safe.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "agent/runtime/unwind/unwinder.h"
#include "collectors/common/stack_slot.h"

namespace profagent {

struct CapturedThread {
  pid_t tid = 0;
  bool answered = false;          // false: no stack (did not answer, or lost)
  bool blocked = false;           // true: in the kernel, walked without a signal
  bool lost = false;              // blocked, but changed under every walk (no stack)
  long syscall_nr = -1;           // blocked in this system call; -1: outside any call
  std::vector<uintptr_t> stack;   // leaf first (empty if not answered)
};

class ThreadSnapshotter {
 public:
  static constexpr uint32_t kDefaultMaxThreads = 4096;

  // Maps the slots (once: the first capture does). False if mmap fails.
  bool init(uint32_t max_threads = kDefaultMaxThreads) noexcept;
  uint32_t max_threads() const noexcept { return max_threads_; }

  // Takes the stack of every thread in `tids`: blocked ones by walking from /proc, running
  // ones by timer signal, waiting up to `timeout_nanos` for their answers. Threads that no
  // longer exist are left out; at most max_threads() running threads are asked (the rest come
  // back with answered = false). Normal context; one capture at a time (the dump lock).
  std::vector<CapturedThread> capture(const std::vector<pid_t>& tids, int64_t timeout_nanos);

  // The SIGPROF snapshot handler (registered with set_thread_snapshot_handler).
  static void handler(siginfo_t* info, void* ucontext) noexcept;

  // Fork child: requests of the parent are void.
  void reset_after_fork() noexcept;

 private:
  using Slot = StackSlot;
  bool settle_if_asleep(pid_t tid, uint32_t gen, Slot& slot, uintptr_t* pcs,
                        CapturedThread* t, bool* rearm) noexcept;
  Slot* slots_ = nullptr;
  uint32_t max_threads_ = 0;
  uint32_t slots_used_ = 0;  // slots [0, slots_used_) were ever requested (fork reset bound)
  uint32_t generation_ = 0;
};

// The process's snapshotter (the handler reads it).
extern ThreadSnapshotter g_thread_snapshotter;

}  // namespace profagent
