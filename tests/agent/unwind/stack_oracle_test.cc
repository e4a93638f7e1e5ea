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
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "agent/unwind/thread_stack.h"
#include "agent/unwind/unwind_tables.h"
#include "agent/unwind/unwinder.h"
#include "tests/agent/unwind/oracle.h"

extern "C" {
double fixture_chain_O0(int);
double fixture_chain_O2_nofp(int);
double fixture_chain_O2_fp(int);
double fixture_chain_O3_nofp(int);
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

void on_sample(int, siginfo_t*, void* uc) {
  int saved = errno;
  int i = g_count.fetch_add(1);
  if (i < kRecords) {
    Record& r = g_records[i];
    r.ours_n = unwind_from_signal(uc, r.ours, kMaxFrames);
    r.lib_n = testing::libunwind_from_ucontext(uc, r.lib, kMaxFrames);
  }
  errno = saved;
}

struct Result {
  int records = 0, equal = 0, documented = 0;
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
  return d != nullptr && d->cfa_kind == kCfaUnknown;
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
  printf("%s: %d contexts, %d equal to libunwind, %d documented differences\n", name,
         r.records, r.equal, r.documented);
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

TEST_F(StackOracle, CO0) { expect_all_equal("chain -O0", sample([] { fixture_chain_O0(20); })); }
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
// A thread whose stack bounds were never recorded (as one started by a raw clone): reads go
// through process_vm_readv and give the same stacks.
TEST_F(StackOracle, UnknownStackBoundsReadThroughProcessVm) {
  expect_all_equal("chain -O2 -fomit-frame-pointer, no recorded bounds",
                   sample([] { fixture_chain_O2_nofp(20); }, /*note_stack=*/false));
}

}  // namespace
}  // namespace profagent
