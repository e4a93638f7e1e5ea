// Signal-free capture of a blocked thread's stack (see thread_snapshot_blocked.h). Normal
// context (dump thread).
#include "collectors/threads/thread_snapshot_blocked.h"

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

const BlockedThreadProbe& BlockedThreadProbe::real() noexcept {
  static constexpr BlockedThreadProbe probe{&read_thread_syscall, &read_thread_run_nanos,
                                            &unwind_thread_from_registers};
  return probe;
}

BlockedCapture capture_blocked_thread(pid_t tid, uintptr_t* pcs, int max_frames,
                                      const BlockedThreadProbe& probe,
                                      int max_attempts) noexcept {
  BlockedCapture result;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    // Run time first, then the registers: if the run time is the same after the walk, the
    // thread did not run at any point between the two register reads.
    uint64_t run_before = 0, run_after = 0;
    bool have_run_time = probe.read_run_nanos(tid, &run_before) == ProcRead::kOk;
    ThreadSyscall before;
    ProcRead r = probe.read_syscall(tid, &before);
    if (r == ProcRead::kGone) {
      result.outcome = BlockedCapture::Outcome::kGone;
      return result;
    }
    if (r != ProcRead::kOk) break;  // lost
    if (before.kind == ThreadSyscall::Kind::kRunning) {
      result.outcome = BlockedCapture::Outcome::kRunning;
      return result;
    }
    if (before.pc == 0) {
      // "-1 0x0 0x0": no user registers left, a thread that has exited (a main thread that
      // called pthread_exit stays a zombie until the process ends).
      result.outcome = BlockedCapture::Outcome::kGone;
      return result;
    }
    ++result.attempts;
    int depth = probe.walk(before.pc, before.sp, 0, pcs, max_frames);
    if (depth > max_frames) depth = max_frames;
    ThreadSyscall after;
    r = probe.read_syscall(tid, &after);
    if (r == ProcRead::kGone) {
      result.outcome = BlockedCapture::Outcome::kGone;
      return result;
    }
    if (r != ProcRead::kOk) break;
    if (have_run_time && probe.read_run_nanos(tid, &run_after) != ProcRead::kOk) {
      have_run_time = false;
      run_after = run_before;  // the syscall file alone decides
    }
    bool unchanged = before.same_wait(after) && (!have_run_time || run_after == run_before);
    if (unchanged) {
      if (depth <= 0) {
        // The walk found nothing, yet the saved PC is the thread's: keep that one frame.
        pcs[0] = before.pc;
        depth = max_frames > 0 ? 1 : 0;
      }
      result.outcome = BlockedCapture::Outcome::kCaptured;
      result.syscall = before;
      result.depth = depth;
      return result;
    }
    if (after.kind == ThreadSyscall::Kind::kRunning) {
      result.outcome = BlockedCapture::Outcome::kRunning;
      return result;
    }
  }
  result.outcome = BlockedCapture::Outcome::kLost;
  result.depth = 0;
  return result;
}

}  // namespace profagent
