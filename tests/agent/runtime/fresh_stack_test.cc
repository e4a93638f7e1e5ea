// run_on_fresh_stack (agent/runtime/fresh_stack.h): the function runs on the same thread on
// another stack, deep recursion fits there, and stack_before_switch gives the caller's stack
// while it runs (nothing before or after).
#include "agent/runtime/fresh_stack.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

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
}  // namespace profagent
