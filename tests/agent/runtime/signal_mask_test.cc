// Unit tests of the program-visible SIGPROF mask bookkeeping (agent/runtime/signal_mask.h): what the
// program sees and what the kernel is asked, for every way of changing the mask.
#include "agent/runtime/signal_mask.h"

#include <gtest/gtest.h>
#include <signal.h>

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

}  // namespace
}  // namespace profagent
