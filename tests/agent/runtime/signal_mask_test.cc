// Unit tests of the program-visible SIGPROF mask bookkeeping (agent/runtime/signal_mask.h): what the
// program sees and what the kernel is asked, for every way of changing the mask.
#include "agent/runtime/signal_mask.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/syscall.h>

#include <thread>
#include <vector>

namespace profagent {
namespace {

TEST(SignalMask, BlockingSigprofIsVirtual) {
  MaskChange c = plan_mask_change(SIG_BLOCK, true, false, false);
  EXPECT_TRUE(c.view_after);
  EXPECT_TRUE(c.strip_sigprof);  // the kernel keeps SIGPROF open
  EXPECT_FALSE(c.held_after);
  c = plan_mask_change(SIG_SETMASK, true, false, false);
  EXPECT_TRUE(c.view_after);
  EXPECT_TRUE(c.strip_sigprof);
}

TEST(SignalMask, OtherSignalsLeaveTheViewAlone) {
  for (bool view : {false, true}) {
    MaskChange c = plan_mask_change(SIG_BLOCK, false, view, false);
    EXPECT_EQ(c.view_after, view);
    EXPECT_FALSE(c.strip_sigprof);
    c = plan_mask_change(SIG_UNBLOCK, false, view, false);
    EXPECT_EQ(c.view_after, view);
  }
}

TEST(SignalMask, UnblockingEndsViewAndHold) {
  MaskChange c = plan_mask_change(SIG_UNBLOCK, true, true, true);
  EXPECT_FALSE(c.view_after);
  EXPECT_FALSE(c.held_after);
  EXPECT_FALSE(c.strip_sigprof);
  c = plan_mask_change(SIG_SETMASK, false, true, true);
  EXPECT_FALSE(c.view_after);
  EXPECT_FALSE(c.held_after);
}

TEST(SignalMask, HeldSigprofStaysReallyBlocked) {
  // The program waits for SIGPROF (or one of its own is pending): masks pass through as set.
  MaskChange c = plan_mask_change(SIG_SETMASK, true, true, true);
  EXPECT_TRUE(c.view_after);
  EXPECT_TRUE(c.held_after);
  EXPECT_FALSE(c.strip_sigprof);
  c = plan_mask_change(SIG_BLOCK, true, true, true);
  EXPECT_FALSE(c.strip_sigprof);
  EXPECT_TRUE(c.held_after);
}

TEST(SignalMask, InvalidHowChangesNothing) {
  MaskChange c = plan_mask_change(12345, true, false, false);
  EXPECT_FALSE(c.view_after);
  EXPECT_FALSE(c.strip_sigprof);
  c = plan_mask_change(12345, false, true, true);
  EXPECT_TRUE(c.view_after);
  EXPECT_TRUE(c.held_after);
}

}  // namespace
}  // namespace profagent

namespace profagent {
namespace {

constexpr unsigned long long bit(int sig) { return 1ull << (sig - 1); }

TEST(SignalMask, RealMaskAfterEachHow) {
  EXPECT_EQ(mask_after(SIG_BLOCK, bit(SIGINT), bit(SIGTERM)), bit(SIGINT) | bit(SIGTERM));
  EXPECT_EQ(mask_after(SIG_UNBLOCK, bit(SIGINT) | bit(SIGTERM), bit(SIGTERM)), bit(SIGINT));
  EXPECT_EQ(mask_after(SIG_SETMASK, bit(SIGINT), bit(SIGHUP)), bit(SIGHUP));
  EXPECT_EQ(mask_after(99, bit(SIGINT), bit(SIGHUP)), bit(SIGINT));
}

TEST(SignalMask, ViewGoesStaleWhenTheRealMaskChangesBehindLibc) {
  unsigned long long all_but_prof = ~0ull & ~bit(SIGPROF);
  set_sigprof_flags(true, false, all_but_prof);
  EXPECT_TRUE(sigprof_view_blocked(all_but_prof));
  EXPECT_TRUE(sigprof_view_blocked(all_but_prof & ~bit(SIGKILL)));  // the kernel drops KILL
  // A runtime unblocked signals with the raw system call: the real mask is the truth now.
  EXPECT_FALSE(sigprof_view_blocked(bit(SIGURG)));
  EXPECT_FALSE(sigprof_view_blocked(all_but_prof));  // and the view stays forgotten
  set_sigprof_flags(false, false, 0);
}

// The context a program SIGPROF interrupts: SIGPROF really open, the program's view blocking
// it (the flags set to match).
ucontext_t interrupted_with_sigprof_viewed_blocked() {
  ucontext_t uc{};
  sigemptyset(&uc.uc_sigmask);
  set_sigprof_flags(true, false, kernel_mask_word(&uc.uc_sigmask));
  return uc;
}

// A SIGPROF the program sent to one of its threads (tgkill).
siginfo_t thread_directed_sigprof(pid_t sender, uid_t uid) {
  siginfo_t info{};
  info.si_signo = SIGPROF;
  info.si_code = SI_TKILL;
  info.si_pid = sender;
  info.si_uid = uid;
  return info;
}

// A program SIGPROF that arrives while the view blocks it is re-sent to the thread and also
// remembered: if an agent SIGPROF pending on the thread swallowed the re-sent one (one
// pending standard signal per thread), the agent's delivers it. Taken once; a delivery of the
// program's own SIGPROF, and a fork child, forget it.
TEST(SignalMask, DeferredProgramSigprofIsRememberedUntilDelivered) {
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &prof, &old), 0);  // the re-sent one stays pending
  ucontext_t uc = interrupted_with_sigprof_viewed_blocked();
  siginfo_t info = thread_directed_sigprof(4242, 77);
  EXPECT_TRUE(defer_program_sigprof_if_blocked(&info, &uc));
  EXPECT_TRUE(sigismember(&uc.uc_sigmask, SIGPROF)) << "blocked for real from the return on";
  siginfo_t taken;
  ASSERT_TRUE(take_deferred_program_sigprof(&taken));
  EXPECT_EQ(taken.si_signo, SIGPROF);
  EXPECT_EQ(taken.si_code, SI_TKILL);
  EXPECT_EQ(taken.si_pid, 4242);
  EXPECT_EQ(taken.si_uid, 77u);
  EXPECT_FALSE(take_deferred_program_sigprof(&taken)) << "delivered once";

  // Deferred again, then the re-sent one itself arrives once the view no longer blocks it.
  sigemptyset(&uc.uc_sigmask);
  set_sigprof_flags(true, false, kernel_mask_word(&uc.uc_sigmask));
  EXPECT_TRUE(defer_program_sigprof_if_blocked(&info, &uc));
  set_sigprof_flags(false, false, 0);
  EXPECT_FALSE(defer_program_sigprof_if_blocked(&info, &uc));
  EXPECT_FALSE(take_deferred_program_sigprof(&taken));

  set_sigprof_flags(true, false, kernel_mask_word(&uc.uc_sigmask));
  sigemptyset(&uc.uc_sigmask);
  EXPECT_TRUE(defer_program_sigprof_if_blocked(&info, &uc));
  forget_deferred_sigprof_after_fork();
  EXPECT_FALSE(take_deferred_program_sigprof(&taken));
  set_sigprof_flags(false, false, 0);

  // Drain the re-sent signals before unblocking.
  timespec none{0, 0};
  while (sigtimedwait(&prof, nullptr, &none) == SIGPROF) {
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// What the CPU collector is told: stop (1) or restart (0) the calling thread's timer.
int g_timer_calls[8];
int g_timer_call_count = 0;
bool record_timer_call(bool stop) noexcept {
  if (g_timer_call_count < 8) g_timer_calls[g_timer_call_count++] = stop ? 1 : 0;
  return true;
}
std::vector<int> timer_calls() { return {g_timer_calls, g_timer_calls + g_timer_call_count}; }

bool sigprof_really_blocked() {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, SIGPROF) == 1;
}

// A wait for SIGPROF that begins the hold lists the thread as a holder and stops its CPU
// timer before it blocks SIGPROF, once; the end of the hold restarts it. A hold begun by a deferral stops it only
// while no SIGPROF is pending (a stopped timer's pending signal is dropped when dequeued, and
// a program SIGPROF merged into it with it); a fork child's timer is new and running.
TEST(SignalMask, AWaitForSigprofStopsTheThreadsTimerUntilTheHoldEnds) {
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  ASSERT_EQ(pthread_sigmask(SIG_UNBLOCK, &prof, &old), 0);
  set_sigprof_hold_listener(record_timer_call);
  g_timer_call_count = 0;
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  set_sigprof_flags(true, false, kernel_mask_word(&now));  // the view blocks, really open
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  EXPECT_FALSE(thread_holds_sigprof(self));
  hold_sigprof_for_wait(&prof);
  EXPECT_EQ(timer_calls(), std::vector<int>{1});
  EXPECT_TRUE(sigprof_held());
  EXPECT_TRUE(sigprof_really_blocked());
  EXPECT_TRUE(thread_holds_sigprof(self)) << "the wall sampler and snapshots skip it";
  forget_other_sigprof_holders_after_fork();
  EXPECT_TRUE(thread_holds_sigprof(self)) << "a fork child's one thread keeps its hold";
  hold_sigprof_for_wait(&prof);
  stop_timer_while_held();
  EXPECT_EQ(timer_calls(), std::vector<int>{1}) << "stopped once";
  pthread_sigmask(SIG_UNBLOCK, &prof, nullptr);
  set_sigprof_flags(false, false, 0);  // the program unblocked SIGPROF: the hold ends
  EXPECT_EQ(timer_calls(), (std::vector<int>{1, 0}));
  EXPECT_FALSE(thread_holds_sigprof(self));

  // Held since a deferral, its re-sent SIGPROF pending: the timer runs on until none is.
  pthread_sigmask(SIG_BLOCK, &prof, nullptr);  // as the handler's return leaves it
  ucontext_t uc = interrupted_with_sigprof_viewed_blocked();
  siginfo_t info = thread_directed_sigprof(0, 0);
  ASSERT_TRUE(defer_program_sigprof_if_blocked(&info, &uc));
  EXPECT_TRUE(thread_holds_sigprof(self));
  hold_sigprof_for_wait(&prof);
  stop_timer_while_held();
  EXPECT_EQ(timer_calls(), (std::vector<int>{1, 0})) << "a SIGPROF is pending";
  timespec none{0, 0};
  ASSERT_EQ(sigtimedwait(&prof, nullptr, &none), SIGPROF);
  forget_deferred_program_sigprof();  // the program took the re-sent one
  stop_timer_while_held();
  EXPECT_EQ(timer_calls(), (std::vector<int>{1, 0, 1}));
  forget_deferred_sigprof_after_fork();  // a fork child's timer was never stopped
  set_sigprof_flags(false, false, 0);
  EXPECT_EQ(timer_calls(), (std::vector<int>{1, 0, 1})) << "nothing to restart";
  EXPECT_FALSE(thread_holds_sigprof(self));

  set_sigprof_hold_listener(nullptr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// A thread that ends while it holds SIGPROF is no holder any more: at its exit (the agent's
// pthread key destructor), or, for one that ended without it, at the dump thread's tick.
TEST(SignalMask, AnEndedThreadIsNoSigprofHolder) {
  for (bool exit_hook : {true, false}) {
    pid_t tid = 0;
    bool held = false;
    std::thread t([&] {
      tid = static_cast<pid_t>(syscall(SYS_gettid));
      sigset_t prof, now;
      sigemptyset(&prof);
      sigaddset(&prof, SIGPROF);
      pthread_sigmask(SIG_BLOCK, nullptr, &now);
      set_sigprof_flags(true, false, kernel_mask_word(&now));
      hold_sigprof_for_wait(&prof);
      held = thread_holds_sigprof(tid);
      if (exit_hook) forget_sigprof_hold_at_thread_exit();
    });
    t.join();
    EXPECT_TRUE(held);
    EXPECT_EQ(thread_holds_sigprof(tid), !exit_hook);
    // The kernel may list a joined thread for a moment after join returns: the tick runs
    // again, as the dump thread's does every 100 ms.
    for (int tick = 0; tick < 1000 && thread_holds_sigprof(tid); ++tick) {
      forget_ended_sigprof_holders();
      if (thread_holds_sigprof(tid)) usleep(1000);
    }
    EXPECT_FALSE(thread_holds_sigprof(tid)) << "the tick forgets an ended holder";
  }
}

}  // namespace
}  // namespace profagent
