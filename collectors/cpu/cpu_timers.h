// Per-thread CPU-time timers (timer_create on the thread's CPU clock, SIGEV_THREAD_ID), as
// Go >= 1.18 does: every thread is sampled in proportion to its own CPU time. Normal
// context; arm_current_thread/disarm_current_thread also run on host threads from the
// pthread_create trampoline (no host locks taken, no host allocation).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <vector>

namespace profagent {

class CpuTimers {
 public:
  // Period of every timer, in ns (1e9/hz).
  void set_period(int64_t period_nanos) noexcept { period_nanos_ = period_nanos; }

  // Arms a timer for the calling thread (its own CPU clock), delivering SIGPROF to it.
  bool arm_current_thread() noexcept;
  // Deletes the calling thread's timer, if it has one.
  void disarm_current_thread() noexcept;
  // Stops (held) or restarts the calling thread's timer while the thread holds SIGPROF
  // (signal_mask.h: set_sigprof_hold_listener); false if it has no timer or the kernel
  // refused. Hook and signal context: one system call.
  bool hold_current_thread(bool held) noexcept;

  // Arms timers for threads that already exist and have none (found in /proc/self/task at
  // start: threads created before the agent loaded). Their timers are swept when they exit.
  void arm_existing_threads();
  // Deletes timers of threads that no longer exist (called from the dump thread's tick).
  void sweep_dead_threads();
  // Deletes every timer this process armed (stop, or the program took SIGPROF).
  void disarm_all();
  // In a fork child: the child has no timers (they are not inherited); forgets the parent's
  // and, if `rearm`, arms one for the calling thread (the child's only one), its first
  // expiration drawn from `seed`. Fork-handler context.
  void reset_after_fork(bool rearm, uint64_t seed) noexcept;

  int live_timers() const noexcept;
  // The threads that have a timer now, with their CPU time (ns) when it was armed.
  struct Armed {
    pid_t tid;
    int64_t armed_cpu;
    int slot;  // (for take_stopped_for_hold)
  };
  std::vector<Armed> live_threads() const;
  // Whether the thread's timer was stopped for a hold since the last call: its periods while
  // SIGPROF was blocked then never come as one late signal's overrun (a stopped timer's
  // pending signal is dropped, a restarted one starts afresh).
  bool take_stopped_for_hold(const Armed& armed) noexcept;
  // CPU time of thread `tid` of this process so far (ns), or -1 if it has ended.
  static int64_t thread_cpu_nanos(pid_t tid) noexcept;

 private:
  bool arm(pid_t tid, bool own_thread) noexcept;
  itimerspec running_timer() const noexcept;
  itimerspec running_timer(uint64_t seed) const noexcept;
  int64_t period_nanos_ = 10000000;
};

}  // namespace profagent
