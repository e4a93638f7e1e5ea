// The walker against libunwind: a thread runs fixture code (C and C++, several flag sets,
// PLT calls, malloc, a program signal handler, C++ throw/catch) while another thread sends
// it a sampling signal every few tens of microseconds; the handler walks the same ucontext
// with ours and with libunwind, and the stacks must be equal frame for frame.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "agent/runtime/unwind/fde_lookup.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"
#include "tests/agent/runtime/unwind/oracle.h"

extern "C" {
double fixture_chain_O0(int);
double fixture_chain_O2_nofp(int);
double fixture_chain_O2_fp(int);
double fixture_chain_O3_nofp(int);
double fixture_chain_altstack(int);
int fixture_throw_O0(int);
int fixture_throw_O2_nofp(int);
int fixture_throw_O2_fp(int);
}

namespace profagent {
namespace {

struct Record {
  int ours_n, lib_n;
  uintptr_t ours[kMaxFrames], lib[kMaxFrames];
};

constexpr int kRecords = 1500;
Record* g_records = nullptr;
std::atomic<int> g_count{0};
const int kSampleSignal = SIGRTMIN + 4;
// Walk as before the first tables: every rule read from the objects' .eh_frame.
bool g_without_tables = false;

void on_sample(int, siginfo_t*, void* uc) {
  int saved = errno;
  int i = g_count.fetch_add(1);
  if (i < kRecords) {
    Record& r = g_records[i];
    r.ours_n = g_without_tables ? unwind_from_signal_without_tables(uc, r.ours, kMaxFrames)
                                : unwind_from_signal(uc, r.ours, kMaxFrames);
    r.lib_n = testing::libunwind_from_ucontext(uc, r.lib, kMaxFrames);
  }
  errno = saved;
}

struct Result {
  int records = 0, equal = 0, documented = 0;
  int through_signal_frame = 0;  // stacks that cross __restore_rt (a program handler)
  std::string first_mismatches;
};

// The documented differences: ours ends early, as a prefix of libunwind's stack, at
//  - a PC in no loaded module (libunwind then guesses on with rbp; we stop), or
//  - a PC whose CFI rule we do not model (libgcc's context install in _Unwind_Resume /
//    _Unwind_RaiseException: CFA = rcx + 8 and the return address in rcx for 3
//    instructions), where libunwind evaluates the general rule.
bool documented_difference(const Record& r) {
  if (r.ours_n == 0 || r.ours_n >= r.lib_n) return false;
  if (memcmp(r.ours, r.lib, sizeof(uintptr_t) * r.ours_n) != 0) return false;
  uintptr_t last = r.ours[r.ours_n - 1];
  const UnwindModule* m = find_unwind_module(unwind_modules(), last);
  if (m == nullptr) return true;
  const FrameDesc* d = find_frame_desc(*m, last);
  if (d != nullptr && d->cfa_kind == kCfaUnknown) return true;
  // Without tables, also a rule past the copy a lookup makes of a long FDE (fde_lookup.h).
  RowLookupCache cache;
  return g_without_tables && find_row_without_tables(last, 0, cache).desc.cfa_kind == kCfaUnknown;
}

// Runs `body` repeatedly on a new thread while sampling it; `note_stack`: whether the thread
// records its stack bounds (as our pthread_create hook does) or walks via process_vm_readv.
template <typename Fn>
Result sample(Fn body, bool note_stack = true) {
  static Record* records = static_cast<Record*>(mmap(nullptr, sizeof(Record) * kRecords,
      PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  g_records = records;
  g_count = 0;
  struct sigaction sa {};
  sa.sa_sigaction = on_sample;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigaction(kSampleSignal, &sa, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread target([&] {
    if (note_stack) note_current_thread_stack();
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    while (!stop.load()) body();
  });
  while (tid.load() == 0) usleep(100);
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  while (g_count.load() < kRecords) {
    syscall(SYS_tgkill, getpid(), tid.load(), kSampleSignal);
    timespec gap{0, 30000};
    nanosleep(&gap, nullptr);
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > 20) break;
  }
  stop = true;
  target.join();
  Result res;
  res.records = std::min(g_count.load(), kRecords);
  int shown = 0;
  for (int i = 0; i < res.records; ++i) {
    const Record& r = g_records[i];
    bool same = r.ours_n == r.lib_n && memcmp(r.ours, r.lib, sizeof(uintptr_t) * r.ours_n) == 0;
    static const unsigned char kSigreturn[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
    for (int f = 1; f < r.ours_n; ++f) {
      if (find_unwind_module(unwind_modules(), r.ours[f]) != nullptr &&
          memcmp(reinterpret_cast<const void*>(r.ours[f] + 1), kSigreturn, 9) == 0) {
        ++res.through_signal_frame;
        break;
      }
    }
    if (same) {
      ++res.equal;
    } else if (documented_difference(r)) {
      ++res.documented;
    } else if (shown++ < 3) {
      res.first_mismatches += "  ours:\n" + testing::describe_stack(r.ours, r.ours_n) +
                              "  libunwind:\n" + testing::describe_stack(r.lib, r.lib_n);
    }
  }
  return res;
}

void expect_all_equal(const char* name, const Result& r) {
  printf("%s: %d contexts, %d equal to libunwind, %d documented differences, %d through a "
         "signal frame\n", name, r.records, r.equal, r.documented, r.through_signal_frame);
  EXPECT_GE(r.records, 1000) << name;
  EXPECT_EQ(r.equal + r.documented, r.records) << name << " mismatches:\n" << r.first_mismatches;
  EXPECT_LE(r.documented * 100, r.records * 3) << name;  // at most 3%
}

class StackOracle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    note_current_thread_stack();
    unwind_tables_refresh();
    testing::load_libunwind();
  }
};

TEST_F(StackOracle, CO0) {
  Result r = sample([] { fixture_chain_O0(20); });
  expect_all_equal("chain -O0", r);
  EXPECT_GT(r.through_signal_frame, 10);  // samples inside the program's signal handler
}
TEST_F(StackOracle, CO2OmitFramePointer) {
  expect_all_equal("chain -O2 -fomit-frame-pointer", sample([] { fixture_chain_O2_nofp(20); }));
}
TEST_F(StackOracle, CO2FramePointer) {
  expect_all_equal("chain -O2 -fno-omit-frame-pointer",
                   sample([] { fixture_chain_O2_fp(20); }));
}
TEST_F(StackOracle, CO3OmitFramePointer) {
  expect_all_equal("chain -O3 -fomit-frame-pointer", sample([] { fixture_chain_O3_nofp(20); }));
}
TEST_F(StackOracle, ProgramHandlerOnSigaltstack) {
  Result r = sample([] { fixture_chain_altstack(20); });
  expect_all_equal("chain -O2, program handler on a sigaltstack", r);
  EXPECT_GT(r.through_signal_frame, 10);
}
TEST_F(StackOracle, CxxThrowO0) {
  expect_all_equal("throw -O0", sample([] { fixture_throw_O0(50); }));
}
TEST_F(StackOracle, CxxThrowO2OmitFramePointer) {
  expect_all_equal("throw -O2 -fomit-frame-pointer", sample([] { fixture_throw_O2_nofp(50); }));
}
TEST_F(StackOracle, CxxThrowO2FramePointer) {
  expect_all_equal("throw -O2 -fno-omit-frame-pointer",
                   sample([] { fixture_throw_O2_fp(50); }));
}
// Before the first tables a walk reads each rule from the object's .eh_frame (fde_lookup.h):
// the same stacks, through the program's signal handler and C++ unwinding too.
class StackOracleWithoutTables : public StackOracle {
 protected:
  void SetUp() override { g_without_tables = true; }
  void TearDown() override { g_without_tables = false; }
};
TEST_F(StackOracleWithoutTables, CO0) {
  Result r = sample([] { fixture_chain_O0(20); });
  expect_all_equal("without tables: chain -O0", r);
  EXPECT_GT(r.through_signal_frame, 10);
}
TEST_F(StackOracleWithoutTables, CO3OmitFramePointer) {
  expect_all_equal("without tables: chain -O3 -fomit-frame-pointer",
                   sample([] { fixture_chain_O3_nofp(20); }));
}
TEST_F(StackOracleWithoutTables, ProgramHandlerOnSigaltstack) {
  Result r = sample([] { fixture_chain_altstack(20); });
  expect_all_equal("without tables: chain -O2, program handler on a sigaltstack", r);
  EXPECT_GT(r.through_signal_frame, 10);
}
TEST_F(StackOracleWithoutTables, CxxThrowO2OmitFramePointer) {
  expect_all_equal("without tables: throw -O2 -fomit-frame-pointer",
                   sample([] { fixture_throw_O2_nofp(50); }));
}

// A thread whose stack bounds were never recorded (as one started by a raw clone): reads go
// through process_vm_readv and give the same stacks.
TEST_F(StackOracle, UnknownStackBoundsReadThroughProcessVm) {
  expect_all_equal("chain -O2 -fomit-frame-pointer, no recorded bounds",
                   sample([] { fixture_chain_O2_nofp(20); }, /*note_stack=*/false));
}

// The hook path (unwind_from_hook, from the calling thread's own registers) against
// unw_backtrace from the same frame: identical callers (ours are return addresses - 1).
__attribute__((noinline)) void compare_hook_walk(int depth) {
  if (depth > 0) {
    compare_hook_walk(depth - 1);
    asm volatile("" ::: "memory");
    return;
  }
  uintptr_t ours[kMaxFrames];
  void* lib[kMaxFrames];
  int n = unwind_from_hook(ours, kMaxFrames);
  int m = testing::libunwind_backtrace(lib, kMaxFrames);
  // ours[0] is the walk's own frame (walk_from_hook), ours[1] unwind_from_hook's call of it
  // (in libprofagent.so both are dropped as agent frames; this test binary links the walker
  // in), lib[0] is compare_hook_walk's call site: the callers from there on match.
  ASSERT_GE(n, 10);
  ASSERT_EQ(n, m + 2) << testing::describe_stack(ours, n);
  for (int i = 1; i < m; ++i)
    EXPECT_EQ(ours[i + 2], reinterpret_cast<uintptr_t>(lib[i]) - 1) << "frame " << i;
}

TEST_F(StackOracle, HookWalkEqualsUnwBacktrace) { compare_hook_walk(12); }

}  // namespace
}  // namespace profagent

namespace profagent {
namespace {

// Every byte of every PLT stub (rows with the PLT CFA expression), as if a signal landed
// there right after a call: our first two frames equal libunwind's on the same ucontext.
__attribute__((noinline)) void compare_plt_contexts(int* compared) {
  testing::load_libunwind();
  uintptr_t ra = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  const UnwindModuleSet* set = unwind_modules();
  ASSERT_NE(set, nullptr);
  for (uint32_t mi = 0; mi < set->count; ++mi) {
    const UnwindModule& m = set->modules[mi];
    for (uint32_t r = 0; r + 1 < m.row_count; ++r) {
      if (m.rows[r].cfa_kind != kCfaPlt) continue;
      uintptr_t from = m.base + m.rows[r].pc, to = m.base + m.rows[r + 1].pc;
      if (from < m.lo || to > m.hi) continue;
      for (uintptr_t pc = from; pc < to && pc < from + 64; ++pc) {
        // After `call foo@plt` (and, from byte 11 of a stub, `push $index`): the return
        // address at rsp (or rsp + 8).
        // A distinct value per slot: reading the wrong slot gives a different frame 1.
        volatile uintptr_t fake[8] = {ra, ra + 1, ra + 2, ra + 3, ra + 4, ra + 5, ra + 6, ra + 7};
        ucontext_t uc;
        getcontext(&uc);
        uc.uc_stack = {};  // getcontext leaves it as it was: no altstack to measure
        uc.uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(pc);
        uc.uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(reinterpret_cast<uintptr_t>(&fake[0]));
        uintptr_t ours[kMaxFrames], lib[kMaxFrames];
        int n = unwind_from_signal(&uc, ours, kMaxFrames);
        int k = testing::libunwind_from_ucontext(&uc, lib, kMaxFrames);
        ASSERT_GE(n, 2) << testing::describe_pc(pc);
        ASSERT_GE(k, 2) << testing::describe_pc(pc);
        EXPECT_EQ(ours[0], lib[0]);
        EXPECT_EQ(ours[1], lib[1]) << testing::describe_pc(pc);
        ++*compared;
      }
    }
  }
}

TEST(PltStubs, EveryByteOfEveryStubMatchesLibunwind) {
  note_current_thread_stack();
  unwind_tables_refresh();
  int compared = 0;
  compare_plt_contexts(&compared);
  printf("PLT contexts compared: %d\n", compared);
  EXPECT_GT(compared, 100);
}

}  // namespace
}  // namespace profagent
