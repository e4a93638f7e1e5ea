// Unit tests of the program-visible SIGPROF mask bookkeeping (agent/runtime/signal_mask.h): what the
// program sees and what the kernel is asked, for every way of changing the mask.
#include "agent/runtime/signal_mask.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <ucontext.h>

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

// A program SIGPROF that arrives while the view blocks it is re-sent to the thread and also
// remembered: if an agent SIGPROF pending on the thread swallowed the re-sent one (one
// pending standard signal per thread), the agent's delivers it. Taken once; a delivery of the
// program's own SIGPROF, and a fork child, forget it.
TEST(SignalMask, DeferredProgramSigprofIsRememberedUntilDelivered) {
  sigset_t prof, old;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &prof, &old), 0);  // the re-sent one stays pending
  ucontext_t uc{};
  sigemptyset(&uc.uc_sigmask);
  set_sigprof_flags(true, false, kernel_mask_word(&uc.uc_sigmask));
  siginfo_t info{};
  info.si_signo = SIGPROF;
  info.si_code = SI_TKILL;
  info.si_pid = 4242;
  info.si_uid = 77;
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

}  // namespace
}  // namespace profagent
