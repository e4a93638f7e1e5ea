// The lookup before the first tables (fde_lookup.h) against the tables themselves: for rows
// of every loaded module, the rule read straight from the object's .eh_frame is the row the
// table builder made, and the range it reports holds the PC.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

#include "agent/runtime/unwind/fde_lookup.h"
#include "agent/runtime/unwind/unwind_tables.h"

namespace profagent {
namespace {

double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// The walk reads only these fields of a row (frame_desc.h).
bool same_rule(const FrameDesc& a, const FrameDesc& b) {
  if (a.cfa_kind != b.cfa_kind) return false;
  if ((a.flags & kFlagSignalFrame) != (b.flags & kFlagSignalFrame)) return false;
  if (a.cfa_kind == kCfaOutermost || a.cfa_kind == kCfaUnknown || a.cfa_kind == kCfaNoCfi)
    return true;
  if (a.cfa_kind == kCfaPlt && (a.flags >> 4) != (b.flags >> 4)) return false;
  return a.cfa_off == b.cfa_off && a.rbp_off == b.rbp_off;
}

TEST(FdeLookup, EveryModulesRowsMatchTheTable) {
  unwind_tables_refresh();
  const UnwindModuleSet* set = unwind_modules();
  ASSERT_NE(set, nullptr);
  int checked = 0, matched = 0, long_fde = 0, modules = 0;
  double spent_in_place = 0, spent_through_kernel = 0;
  std::string first_mismatches;
  int in_place = 0;
  for (uint32_t i = 0; i < set->count; ++i) {
    const UnwindModule& m = set->modules[i];
    if (m.rows == nullptr || m.row_count < 2) continue;
    ++modules;
    RowLookupCache cache;  // one per module, as a walk keeps it for frames in one object
    // Every row of small modules, an even spread of a large one's (libstdc++: ~60,000).
    uint32_t stride = m.row_count / 3000 + 1;
    for (uint32_t r = 0; r + 1 < m.row_count; r += stride) {
      const FrameDesc& row = m.rows[r];
      uintptr_t lo = m.base + row.pc, hi = m.base + m.rows[r + 1].pc;
      if (lo < m.lo || hi > m.hi || hi <= lo) continue;
      for (uintptr_t pc : {lo, lo + (hi - lo) / 2, hi - 1}) {
        double t = now_ns();
        RowWithoutTables early = find_row_without_tables(pc, 0, cache);
        (cache.in_place ? spent_in_place : spent_through_kernel) += now_ns() - t;
        in_place += cache.in_place;
        ++checked;
        EXPECT_TRUE(early.in_object) << std::hex << pc;
        bool ok;
        if (row.cfa_kind == kCfaNoCfi) {
          ok = !early.has_desc || early.desc.cfa_kind == kCfaNoCfi;
        } else if (!early.has_desc) {
          ok = false;
        } else if (early.desc.cfa_kind == kCfaUnknown && row.cfa_kind != kCfaUnknown) {
          // A PC past the part of a long FDE a lookup copies (kFdeBytes) ends the walk there.
          ++long_fde;
          ok = true;
        } else {
          ok = same_rule(early.desc, row) && early.row_lo <= pc && pc < early.row_hi;
        }
        if (ok) {
          ++matched;
        } else if (first_mismatches.size() < 2000) {
          char line[256];
          snprintf(line, sizeof line,
                   "pc %#lx (module %#lx): table kind %d off %d rbp %d flags %#x; early "
                   "has %d kind %d off %d rbp %d flags %#x range [%#lx, %#lx)\n",
                   pc, m.base, row.cfa_kind, row.cfa_off, row.rbp_off, row.flags,
                   early.has_desc, early.desc.cfa_kind, early.desc.cfa_off, early.desc.rbp_off,
                   early.desc.flags, early.row_lo, early.row_hi);
          first_mismatches += line;
        }
      }
    }
  }
  printf("%d modules, %d PCs: %d match, %d in FDEs longer than a lookup copies; per lookup "
         "%.0f ns read in place (%d), %.0f ns through the kernel (%d)\n", modules, checked,
         matched, long_fde, spent_in_place / (in_place ? in_place : 1), in_place,
         spent_through_kernel / (checked - in_place ? checked - in_place : 1), checked - in_place);
  EXPECT_GT(modules, 3);
  EXPECT_GT(checked, 3000);
  EXPECT_EQ(matched, checked) << first_mismatches;
  EXPECT_LE(long_fde * 200, checked) << "at most 0.5% of rules past a lookup's copy";
}

// The program and libc stay loaded: read in place. A dlopen'ed library may be unloaded by
// another thread at any time: read through process_vm_readv, so a lookup that still holds
// it in its cache after dlclose finds nothing instead of faulting.
TEST(FdeLookup, UnloadableObjectsAreReadThroughTheKernelAndAnUnloadedOneFindsNothing) {
  RowLookupCache cache;
  RowWithoutTables none = find_row_without_tables(16, 0, cache);
  EXPECT_FALSE(none.in_object);
  EXPECT_FALSE(none.has_desc);
  EXPECT_TRUE(find_row_without_tables(reinterpret_cast<uintptr_t>(&now_ns), 0, cache).has_desc);
  EXPECT_TRUE(cache.in_place) << "the program itself";
  EXPECT_TRUE(find_row_without_tables(reinterpret_cast<uintptr_t>(&getpid), 0, cache).has_desc);
  EXPECT_TRUE(cache.in_place) << "libc";

  void* h = dlopen(WALKER_FIXTURE_LATE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  auto pc = reinterpret_cast<uintptr_t>(dlsym(h, "fixture_plt_target"));
  RowWithoutTables loaded = find_row_without_tables(pc, 0, cache);
  EXPECT_FALSE(cache.in_place) << "a dlopen'ed library";
  EXPECT_TRUE(loaded.in_object);
  ASSERT_TRUE(loaded.has_desc);
  EXPECT_EQ(loaded.desc.cfa_kind, kCfaRsp);  // a function's entry: CFA = rsp + 8
  EXPECT_EQ(loaded.desc.cfa_off, 8);
  ASSERT_EQ(dlclose(h), 0);
  // The cache still holds the unloaded object's search table: every read of it fails, and
  // the walk ends there (no guess through rbp).
  RowWithoutTables stale = find_row_without_tables(pc, 0, cache);
  EXPECT_TRUE(stale.unreadable);
  ASSERT_TRUE(stale.has_desc);
  EXPECT_EQ(stale.desc.cfa_kind, kCfaUnknown);
  EXPECT_EQ(stale.row_hi, 0u) << "not cached as a range";
  RowLookupCache fresh;
  RowWithoutTables gone = find_row_without_tables(pc, 0, fresh);
  EXPECT_FALSE(gone.in_object);
  EXPECT_FALSE(gone.has_desc);
}

// glibc's signal trampoline is recognised from a return address into it (its FDE has the
// signal-frame augmentation and starts one byte early).
TEST(FdeLookup, SignalTrampolineIsRecognised) {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &sa, nullptr);
  struct sigaction now {};
  // glibc's sigaction sets sa_restorer to __restore_rt (SA_RESTORER).
  sa.sa_handler = [](int) {};
  sigaction(SIGUSR2, &sa, nullptr);
  sigaction(SIGUSR2, nullptr, &now);
  auto restorer = reinterpret_cast<uintptr_t>(now.sa_restorer);
  ASSERT_NE(restorer, 0u);
  RowLookupCache cache;
  RowWithoutTables frame = find_row_without_tables(restorer - 1, restorer, cache);
  EXPECT_TRUE(frame.has_desc);
  EXPECT_TRUE(frame.desc.flags & kFlagSignalFrame);
  EXPECT_TRUE(frame.sigreturn);

  signal(SIGUSR2, SIG_DFL);
}

}  // namespace
}  // namespace profagent
