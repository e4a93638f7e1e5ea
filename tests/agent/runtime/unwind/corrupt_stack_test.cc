// A corrupt frame, a garbage rbp or rsp, or a PC in no module ends the walk without a
// fault.
#include <gtest/gtest.h>
#include <ucontext.h>

#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

TEST(CorruptStack, GarbageRegistersEndTheWalk) {
  note_current_thread_stack();
  unwind_tables_refresh();
  ucontext_t uc;
  getcontext(&uc);
  uc.uc_stack = {};  // getcontext leaves it as it was: no altstack to measure
  const uintptr_t garbage[] = {0, 1, 0xdeadbeef, 0x7ffffffff000ull, ~0ull, ~0ull - 7,
                               reinterpret_cast<uintptr_t>(&uc) + 8};
  uintptr_t pcs[kMaxFrames];
  int walks = 0;
  for (uintptr_t pc : garbage) {
    for (uintptr_t sp : garbage) {
      for (uintptr_t bp : garbage) {
        ucontext_t bad = uc;
        bad.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(pc);
        bad.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(sp);
        bad.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(bp);
        int n = unwind_from_signal(&bad, pcs, kMaxFrames);
        EXPECT_GE(n, 0);
        EXPECT_LE(n, kMaxFrames);
        n = unwind_thread_from_registers(pc, sp, bp, pcs, kMaxFrames);
        EXPECT_LE(n, kMaxFrames);
        ++walks;
      }
    }
  }
  EXPECT_EQ(walks, 343);
}

// A real stack whose saved frames are overwritten with garbage: the walk stops early.
__attribute__((noinline)) int walk_with_smashed_frame(uintptr_t* pcs) {
  volatile uintptr_t frame[32];
  for (auto& w : frame) w = 0x4141414141414141ull;
  ucontext_t uc;
  getcontext(&uc);
  uc.uc_stack = {};  // getcontext leaves it as it was: no altstack to measure
  // Pretend the code is frame-pointer code whose frame is the garbage array.
  uc.uc_mcontext.gregs[REG_RIP] = 0x10;  // no module: frame-pointer fallback
  uc.uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(reinterpret_cast<uintptr_t>(&frame[4]));
  return unwind_from_signal(&uc, pcs, kMaxFrames);
}

TEST(CorruptStack, SmashedFrameEndsTheWalk) {
  note_current_thread_stack();
  uintptr_t pcs[kMaxFrames];
  int n = walk_with_smashed_frame(pcs);
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 3);
  EXPECT_EQ(pcs[0], 0x10u);
}

}  // namespace
}  // namespace profagent
