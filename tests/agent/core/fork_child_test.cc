// Which process this is (agent/core/fork_child.h): the process the agent started in, a fork
// child of it (its own copy of the agent's state), or a vfork child sharing its parent's
// memory, which must leave the agent's state and mappings alone.
#include "agent/core/fork_child.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

// 0 if the child `pid` exited saying it shares its parent's memory, 1 if it said it does not.
int answer_of(pid_t pid) {
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(ForkChild, OnlyAVforkChildSharesItsParentsMemory) {
  testing::ChildResult r = testing::run_in_child([]() -> std::string {
    start_fork_child_record();
    CHILD_CHECK(!shares_its_parents_memory());
    pid_t child = fork();
    if (child == 0) _exit(shares_its_parents_memory() ? 0 : 1);
    CHILD_CHECK(answer_of(child) == 1);
    child = vfork();  // (vfork's child may only call _exit here: it runs on this frame)
    if (child == 0) _exit(shares_its_parents_memory() ? 0 : 1);
    CHILD_CHECK(answer_of(child) == 0);
    CHILD_CHECK(!shares_its_parents_memory());  // the parent, after both
    return "";
  });
  EXPECT_TRUE(r.passed()) << r.message;
}

// Before the record starts (the agent's start) nothing is told apart: false.
TEST(ForkChild, NothingSharesBeforeTheRecordStarts) {
  testing::ChildResult r = testing::run_in_child([]() -> std::string {
    CHILD_CHECK(!shares_its_parents_memory());
    return "";
  });
  EXPECT_TRUE(r.passed()) << r.message;
}

}  // namespace
}  // namespace profagent
