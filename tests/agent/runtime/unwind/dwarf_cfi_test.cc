// Frame tables built from real modules: sorted rows, the PLT expression recognised, and the
// lookups finding the module and row of a known function.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <link.h>

#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"

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

// A library loaded after start gets its table at the next refresh; once unloaded, the next
// refresh drops it from the set while the old set (and its table) stays readable.
TEST(UnwindTables, DlopenedLibraryAppearsAndRetires) {
  unwind_tables_refresh();
  void* h = dlopen(WALKER_FIXTURE_LATE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  auto pc = reinterpret_cast<uintptr_t>(dlsym(h, "fixture_plt_target"));
  ASSERT_NE(pc, 0u);
  EXPECT_EQ(find_unwind_module(unwind_modules(), pc), nullptr);  // not refreshed yet
  unwind_tables_refresh();
  const UnwindModuleSet* with = unwind_modules();
  const UnwindModule* m = find_unwind_module(with, pc);
  ASSERT_NE(m, nullptr);
  const FrameDesc* d = find_frame_desc(*m, pc);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->cfa_kind, kCfaRsp);
  ASSERT_EQ(dlclose(h), 0);
  unwind_tables_refresh();
  EXPECT_NE(unwind_modules(), with);
  EXPECT_EQ(find_unwind_module(unwind_modules(), pc), nullptr);
  // The retired set and table are still mapped: a walk that loaded them reads valid memory.
  EXPECT_EQ(find_unwind_module(with, pc), m);
  EXPECT_EQ(find_frame_desc(*m, pc)->cfa_off, 8);
}

// A table found for an address range larger than the one it indexes (another object loaded
// where a dlclosed one was) never makes a lookup read past its page index.
TEST(UnwindTables, LookupPastTheIndexedPagesFindsNothing) {
  FrameDesc rows[2] = {{0, 8, 0, kCfaRsp, 0}, {100, 16, 0, kCfaRsp, 0}};
  uint32_t page_first_row[2] = {0, 1};  // one page indexed (plus its end marker)
  UnwindModule m{};
  m.base = m.lo = 0x100000;
  m.hi = m.lo + (uintptr_t{8} << kUnwindPageShift);
  m.rows = rows;
  m.row_count = 2;
  m.page_first_row = page_first_row;
  m.page_count = 2;
  const FrameDesc* d = find_frame_desc(m, m.base + 120);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->cfa_off, 16);
  EXPECT_EQ(find_frame_desc(m, m.base + (uintptr_t{1} << kUnwindPageShift)), nullptr);
  EXPECT_EQ(find_frame_desc(m, m.base + (uintptr_t{7} << kUnwindPageShift)), nullptr);
}

}  // namespace
}  // namespace profagent
