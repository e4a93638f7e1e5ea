// Unit tests of the program-visible SIGPROF mask bookkeeping (agent/signal_mask.h): what the
// program sees and what the kernel is asked, for every way of changing the mask.
#include "agent/signal_mask.h"

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
