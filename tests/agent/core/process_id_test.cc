// The process's pid (agent/core/process_id.h): the system call's answer, read once for the
// agent's start on its thread (StartPid), never a parent's in a vfork child.
#include "agent/core/process_id.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

namespace profagent {
namespace {

TEST(ProcessId, TheStartReadsItOnceOnItsThreadOnly) {
  EXPECT_EQ(t_start_pid, 0);
  {
    StartPid start;
    EXPECT_EQ(t_start_pid, getpid());  // what own_pid() now answers without a system call
    EXPECT_EQ(own_pid(), getpid());
    pid_t on_other_thread = -1;
    int cached_there = -1;
    std::thread t([&] {
      cached_there = t_start_pid;
      on_other_thread = own_pid();
    });
    t.join();
    EXPECT_EQ(cached_there, 0);  // another thread asks the kernel
    EXPECT_EQ(on_other_thread, getpid());
  }
  EXPECT_EQ(t_start_pid, 0);
  EXPECT_EQ(own_pid(), getpid());
}

// A vfork child shares its parent's memory and thread-locals: outside a start it gets its own
// pid (the system call), and is_own_pid tells the parent's from its own.
TEST(ProcessId, AVforkChildGetsItsOwnPid) {
  const pid_t parent = getpid();
  volatile pid_t seen = 0;
  volatile bool parents_is_not_own = false;
  pid_t child = vfork();
  if (child == 0) {
    seen = own_pid();
    parents_is_not_own = !is_own_pid(parent);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_EQ(seen, child);
  EXPECT_TRUE(parents_is_not_own);
}

}  // namespace
}  // namespace profagent
