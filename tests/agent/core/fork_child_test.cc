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
    if (child == 0) {
      record_fork_child(getpid());  // (the agent's fork handler, agent.cc)
      _exit(shares_its_parents_memory() ? 0 : 1);
    }
    CHILD_CHECK(answer_of(child) == 1);
    child = vfork();  // (vfork's child may only call _exit here: it runs on this frame)
    if (child == 0) _exit(shares_its_parents_memory() ? 0 : 1);
    CHILD_CHECK(answer_of(child) == 0);
    CHILD_CHECK(!shares_its_parents_memory());  // the parent, after both
    return "";
  });
  EXPECT_TRUE(r.passed()) << r.message;
}

// A process that forked says so, with or without a system call; its fork child has not
// forked (until it does), and its vfork child, which must not start a thread either, may
// have: it shares the parent's record.
TEST(ForkChild, AProcessThatForkedIsToldFromItsChildren) {
  testing::ChildResult r = testing::run_in_child([]() -> std::string {
    start_fork_child_record();
    CHILD_CHECK(!has_forked() && !may_have_forked());
    pid_t child = fork();
    if (child == 0) {
      record_fork_child(getpid());
      _exit(!has_forked() && !may_have_forked() ? 1 : 0);
    }
    CHILD_CHECK(answer_of(child) == 1);
    CHILD_CHECK(has_forked() && may_have_forked());
    child = vfork();
    if (child == 0) _exit(!has_forked() && may_have_forked() ? 1 : 0);
    CHILD_CHECK(answer_of(child) == 1);
    child = fork();  // a grandchild: the child's own fork makes it a process that forked
    if (child == 0) {
      record_fork_child(getpid());
      pid_t grandchild = fork();
      if (grandchild == 0) _exit(0);
      _exit(answer_of(grandchild) == 0 && has_forked() ? 1 : 0);
    }
    CHILD_CHECK(answer_of(child) == 1);
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
