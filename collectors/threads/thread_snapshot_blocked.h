// Stack of a thread that sits in the kernel, taken without sending it anything: its saved
// user registers come from /proc/self/task/TID/syscall, the agent thread walks its stack from
// them (unwind_thread_from_registers, memory read through process_vm_readv), and /proc is read
// again afterwards. The stack is accepted only if the thread is still in the same wait (same
// call, arguments, SP and PC) and did not run in between (its schedstat run time unchanged):
// then its stack memory cannot have changed under the walk. Otherwise the walk is retried a
// few times and then given up as lost: a stack is either the thread's or none, never a wrong
// one.
//
// Normal context (dump thread); the /proc files are opened O_CLOEXEC and closed at once.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "collectors/threads/thread_snapshot_proc.h"

namespace profagent {

// Where the blocked-thread capture gets its facts; the real one reads /proc and walks with
// the agent's unwinder. (Tests substitute threads that change under the walk.)
struct BlockedThreadProbe {
  ProcRead (*read_syscall)(pid_t tid, ThreadSyscall* out) noexcept;
  ProcRead (*read_run_nanos)(pid_t tid, uint64_t* out) noexcept;
  int (*walk)(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t* pcs, int max_frames) noexcept;
  static const BlockedThreadProbe& real() noexcept;
};

struct BlockedCapture {
  enum class Outcome {
    kCaptured,  // stack holds the thread's stack, syscall its wait
    kRunning,   // the thread runs (user space or kernel): ask it by signal instead
    kGone,      // the thread exited (or is a zombie: no user registers)
    kLost,      // it kept changing (or /proc was unreadable): no stack
  };
  Outcome outcome = Outcome::kLost;
  ThreadSyscall syscall;  // the wait the stack was taken in (kCaptured)
  int depth = 0;
  int attempts = 0;       // walks made
};

constexpr int kBlockedCaptureAttempts = 3;

// Captures thread `tid` if it is blocked; `pcs` receives up to max_frames frames (leaf first,
// the first being the saved PC exactly).
BlockedCapture capture_blocked_thread(pid_t tid, uintptr_t* pcs, int max_frames,
                                      const BlockedThreadProbe& probe = BlockedThreadProbe::real(),
                                      int max_attempts = kBlockedCaptureAttempts) noexcept;

}  // namespace profagent
