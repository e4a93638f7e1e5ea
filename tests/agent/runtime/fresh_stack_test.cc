// run_on_fresh_stack (agent/runtime/fresh_stack.h): the function runs on the same thread on
// another stack, deep recursion fits there, and stack_before_switch gives the caller's stack
// while it runs (nothing before or after); called from a handler on the altstack, a signal
// arriving meanwhile does not land on the altstack's live frames.
#include "agent/runtime/fresh_stack.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

struct Seen {
  pid_t tid = 0;
  uintptr_t local = 0;
  int depth_before = -1;
  uint64_t deep_sum = 0;
};

__attribute__((noinline)) uint64_t recurse(int n) {
  volatile char page[4096];  // 4 KiB a level: 1,000 levels take 4 MiB
  page[0] = static_cast<char>(n);
  return n == 0 ? page[0] : page[0] + recurse(n - 1);
}

void on_fresh_stack(void* p) {
  Seen* seen = static_cast<Seen*>(p);
  volatile int here = 0;
  seen->tid = static_cast<pid_t>(syscall(SYS_gettid));
  seen->local = reinterpret_cast<uintptr_t>(&here);
  const uintptr_t* pcs = nullptr;
  int depth = 0;
  seen->depth_before = stack_before_switch(&pcs, &depth) ? depth : 0;
  seen->deep_sum = recurse(1000);
}

TEST(FreshStack, RunsOnTheSameThreadOnAnotherStackWithRoomForDeepCalls) {
  note_current_thread_stack();
  unwind_tables_refresh();
  const uintptr_t* pcs = nullptr;
  int depth = 0;
  EXPECT_FALSE(stack_before_switch(&pcs, &depth));
  Seen seen;
  ASSERT_TRUE(run_on_fresh_stack(on_fresh_stack, &seen));
  EXPECT_EQ(seen.tid, static_cast<pid_t>(syscall(SYS_gettid)));
  uintptr_t lo = 0, hi = 0;
  ASSERT_TRUE(current_thread_stack(&lo, &hi));
  EXPECT_FALSE(seen.local >= lo && seen.local < hi) << "ran on the thread's own stack";
  EXPECT_GT(seen.depth_before, 2) << "the caller's stack, walked before the switch";
  EXPECT_GT(seen.deep_sum, 0u);
  EXPECT_FALSE(stack_before_switch(&pcs, &depth));
}

}  // namespace
std::vector<char> g_altstack(64 * 1024);
uintptr_t g_nested_sp = 0;
bool g_nested_ran_during_the_run = false;
bool g_canary_intact = false;

void on_nested(int) {
  volatile int here = 0;
  g_nested_sp = reinterpret_cast<uintptr_t>(&here);
}

void raise_nested(void*) {
  raise(SIGUSR2);
  g_nested_ran_during_the_run = g_nested_sp != 0;
}

// exit() from a handler on the altstack: the handler's frames stay live on the altstack
// while the dump runs on the fresh stack; the kernel, seeing the thread off the altstack,
// would put the next signal's frame at the altstack's top, over them. A stand-in altstack
// takes it during the run (signals, a SIGTERM too, are taken there), and the program's
// altstack is back after.
void on_outer(int) {
  volatile uint64_t canary = 0x5aa5c33cf00fe11eull;
  run_on_fresh_stack(raise_nested, nullptr);
  g_canary_intact = canary == 0x5aa5c33cf00fe11eull;
}

TEST(FreshStack, ASignalDuringTheRunDoesNotLandOnTheAltstacksLiveFrames) {
  stack_t ss{};
  ss.ss_sp = g_altstack.data();
  ss.ss_size = g_altstack.size();
  ASSERT_EQ(sigaltstack(&ss, nullptr), 0);
  struct sigaction sa, old_usr1, old_usr2;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_ONSTACK;
  sa.sa_handler = on_nested;
  sigaction(SIGUSR2, &sa, &old_usr2);
  sa.sa_handler = on_outer;
  sigaction(SIGUSR1, &sa, &old_usr1);
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGUSR2, &old_usr2, nullptr);
  stack_t now{};
  sigaltstack(nullptr, &now);
  stack_t off{};
  off.ss_flags = SS_DISABLE;
  sigaltstack(&off, nullptr);
  EXPECT_TRUE(g_nested_ran_during_the_run) << "signals wait for the whole run";
  const uintptr_t alt = reinterpret_cast<uintptr_t>(g_altstack.data());
  EXPECT_FALSE(g_nested_sp >= alt && g_nested_sp < alt + g_altstack.size())
      << "the signal ran on the program's altstack, over its live frames";
  EXPECT_TRUE(g_canary_intact);
  EXPECT_EQ(now.ss_sp, ss.ss_sp) << "the altstack is back after the run";
  EXPECT_EQ(now.ss_size, ss.ss_size);
}

}  // namespace profagent
