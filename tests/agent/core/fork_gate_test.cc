// Unit tests of the fork gate (agent/core/fork_gate.h): a fork waits for a section open on
// another thread, so the child never holds a copy of a lock taken inside it; sections nest;
// a fork from inside a section on the forking thread itself goes ahead; the child can open
// sections of its own. Each test runs in a forked child (run_in_child): the gate's fork
// handlers stay out of the rest of the test binary.
#include "agent/core/fork_gate.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

using testing::run_in_child;

// Forks; the child runs `in_child` (true = exit 0). The parent returns the child's status.
template <typename Fn>
int fork_and_wait(Fn in_child) {
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    _exit(in_child() ? 0 : 1);
  }
  int status = -1;
  waitpid(pid, &status, 0);
  return status;
}

TEST(ForkGate, AForkWaitsForASectionOnAnotherThreadAndTheChildFindsItsLockFree) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    // Stands for the dynamic loader's lock, which glibc does not re-make in a fork child.
    static pthread_mutex_t loader_like = PTHREAD_MUTEX_INITIALIZER;
    std::atomic<bool> inside{false}, closing{false};
    std::thread agent_thread([&] {
      ForkGateSection section;
      pthread_mutex_lock(&loader_like);
      inside = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      pthread_mutex_unlock(&loader_like);
      closing = true;
    });
    while (!inside) std::this_thread::yield();
    uint64_t waits = fork_gate_waits();
    int status = fork_and_wait([] {
      if (pthread_mutex_trylock(&loader_like) != 0) return false;  // copied while held
      pthread_mutex_unlock(&loader_like);
      { ForkGateSection own; }  // the child's gate is usable (not left write-locked)
      return true;
    });
    bool waited_for_section = closing.load();
    agent_thread.join();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return "the child found the lock taken inside the section held (status " +
             std::to_string(status) + ")";
    if (!waited_for_section) return "fork() returned before the section closed";
    if (fork_gate_waits() != waits + 1) return "the wait was not counted";
    if (fork_gate_timeouts() != 0) return "the fork gave up waiting";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

TEST(ForkGate, SectionsNestAndAForkWithNoSectionOpenDoesNotWait) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    {
      ForkGateSection outer;
      ForkGateSection inner;  // nested on one thread: must not deadlock or double-lock
    }
    uint64_t waits = fork_gate_waits();
    int status = fork_and_wait([] { return true; });
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child failed";
    if (fork_gate_waits() != waits) return "a fork with no open section waited";
    // The gate is free again: another thread can open a section right away.
    std::atomic<bool> opened{false};
    std::thread other([&] {
      ForkGateSection section;
      opened = true;
    });
    other.join();
    return opened ? "" : "a section could not be opened after the fork";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

TEST(ForkGate, AForkFromInsideASectionOnTheSameThreadGoesAhead) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    uint64_t waits = fork_gate_waits();
    int status;
    {
      ForkGateSection section;  // as an exit dump's thread forking in a signal handler
      status = fork_and_wait([] {
        ForkGateSection in_child;  // the child's own gate works
        return true;
      });
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child failed or hung";
    if (fork_gate_waits() != waits) return "the fork waited for its own thread's section";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

}  // namespace
}  // namespace profagent
