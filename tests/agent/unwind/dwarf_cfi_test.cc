// Frame tables built from real modules: sorted rows, the PLT expression recognised, and the
// lookups finding the module and row of a known function.
#include <gtest/gtest.h>
#include <link.h>

#include "agent/unwind/unwind_tables.h"
#include "agent/unwind/unwinder.h"

extern "C" double fixture_plt_target(int n);
extern "C" double fixture_chain_O2_nofp(int);

namespace profagent {
namespace {

TEST(UnwindTables, EveryModuleSortedAndFunctionsCovered) {
  unwind_tables_refresh();
  const UnwindModuleSet* set = unwind_modules();
  ASSERT_NE(set, nullptr);
  ASSERT_GT(set->count, 3u);
  int with_rows = 0;
  bool any_plt = false;
  for (uint32_t i = 0; i < set->count; ++i) {
    const UnwindModule& m = set->modules[i];
    if (i > 0) {
      EXPECT_LE(set->modules[i - 1].hi, m.lo);
    }
    if (m.rows == nullptr) continue;
    ++with_rows;
    for (uint32_t r = 1; r < m.row_count; ++r) ASSERT_LT(m.rows[r - 1].pc, m.rows[r].pc);
    for (uint32_t r = 0; r < m.row_count; ++r) any_plt |= m.rows[r].cfa_kind == kCfaPlt;
  }
  EXPECT_GT(with_rows, 3);
  EXPECT_TRUE(any_plt);
  auto pc = reinterpret_cast<uintptr_t>(&fixture_plt_target);
  const UnwindModule* m = find_unwind_module(set, pc);
  ASSERT_NE(m, nullptr);
  const FrameDesc* d = find_frame_desc(*m, pc);
  ASSERT_NE(d, nullptr);
  // At a function's entry the CFA is rsp + 8 and rbp is untouched.
  EXPECT_EQ(d->cfa_kind, kCfaRsp);
  EXPECT_EQ(d->cfa_off, 8);
  EXPECT_EQ(d->rbp_off, 0);
}

TEST(UnwindTables, RefreshIsStableWhenNothingChanged) {
  unwind_tables_refresh();
  const UnwindModuleSet* before = unwind_modules();
  unwind_tables_refresh();
  EXPECT_EQ(unwind_modules(), before);
}

}  // namespace
}  // namespace profagent
