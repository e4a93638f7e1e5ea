// Unit tests of the fork gate (agent/core/fork_gate.h): a fork waits for a section open on
// another thread, so the child never holds a copy of a lock taken inside it; sections nest;
// a fork from inside a section on the forking thread itself goes ahead, and the child leaving
// that section keeps its own gate whole; after a wait runs out (a stuck section) forks stop
// waiting until the gate is free again. Each test runs in a forked child (run_in_child): the gate's fork
// handlers stay out of the rest of the test binary.
#include "agent/core/fork_gate.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
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

// Waits (up to 10 s) until `done` holds.
template <typename Fn>
bool wait_until(Fn done) {
  for (int i = 0; i < 10000 && !done(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

// Forks while another thread holds a section open until the fork is seen waiting for it;
// returns the child's status (the child exits 0).
int fork_while_another_thread_holds_a_section() {
  std::atomic<bool> inside{false};
  uint64_t waits = fork_gate_waits();
  std::thread holder([&] {
    ForkGateSection section;
    inside = true;
    wait_until([&] { return fork_gate_waits() > waits; });
  });
  while (!inside) std::this_thread::yield();
  int status = fork_and_wait([] { return true; });
  holder.join();
  return status;
}

TEST(ForkGate, AForkWaitsForASectionOnAnotherThreadAndTheChildFindsItsLockFree) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    // Stands for the dynamic loader's lock, which glibc does not re-make in a fork child.
    static pthread_mutex_t loader_like = PTHREAD_MUTEX_INITIALIZER;
    std::atomic<bool> inside{false}, closing{false};
    uint64_t waits = fork_gate_waits();
    std::thread agent_thread([&] {
      ForkGateSection section;
      pthread_mutex_lock(&loader_like);
      inside = true;
      // Held until the fork is seen waiting for it (however late the main thread forks).
      wait_until([&] { return fork_gate_waits() > waits; });
      pthread_mutex_unlock(&loader_like);
      closing = true;
    });
    while (!inside) std::this_thread::yield();
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

TEST(ForkGate, AForkFromInsideASectionOnTheSameThreadGoesAheadAndTheChildsGateStaysWhole) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    set_fork_gate_wait_nanos(3'000'000'000);
    uint64_t waits = fork_gate_waits();
    pid_t pid;
    {
      ForkGateSection section;  // as a signal handler forking during a loader call
      pid = fork();
    }  // the child leaves the section it inherited: that must not unlock its fresh gate
    if (pid == 0) {
      alarm(10);
      // A thread of the child opens and holds a section; the child's fork waits for it. A
      // broken gate (a reader count gone wrong) would make it time out or not wait.
      uint64_t child_waits = fork_gate_waits();
      int grandchild = fork_while_another_thread_holds_a_section();
      bool ok = WIFEXITED(grandchild) && WEXITSTATUS(grandchild) == 0 &&
                fork_gate_waits() == child_waits + 1 && fork_gate_timeouts() == 0;
      _exit(ok ? 0 : 1);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return "the child's gate broke after it left an inherited section (status " +
             std::to_string(status) + ")";
    if (fork_gate_waits() != waits) return "the fork waited for its own thread's section";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

// A prepare handler registered before the gate's runs after it (glibc runs them in reverse
// order), while this thread's fork holds the gate: there, a signal whose handler forks.
std::atomic<bool> g_fork_in_handler{false};
std::atomic<int> g_handler_child_status{-1};

void fork_in_signal_handler(int) {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = -1;
  waitpid(pid, &status, 0);
  g_handler_child_status = status;
}

void raise_during_fork() {
  if (g_fork_in_handler.exchange(false)) raise(SIGUSR1);
}

TEST(ForkGate, AForkFromASignalHandlerDuringTheThreadsOwnForkGoesAheadAndTheGateIsFreedOnce) {
  auto result = run_in_child([]() -> std::string {
    pthread_atfork(raise_during_fork, nullptr, nullptr);
    install_fork_gate();
    set_fork_gate_wait_nanos(3'000'000'000);
    signal(SIGUSR1, fork_in_signal_handler);
    uint64_t waits = fork_gate_waits();
    g_fork_in_handler = true;
    auto start = std::chrono::steady_clock::now();
    int status = fork_and_wait([] { return true; });
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the outer child failed";
    int inner = g_handler_child_status.load();
    if (!WIFEXITED(inner) || WEXITSTATUS(inner) != 0) return "the handler's fork did not run";
    if (fork_gate_waits() != waits || seconds > 1.5)
      return "the handler's fork waited for its own thread's fork";
    if (fork_gate_timeouts() != 0) return "a wait ran out";
    // Unlocked once, by the outer fork: another thread's section opens now, and a fork made
    // while it is open still waits for it (the lock was not released twice, nor kept).
    std::atomic<bool> opened{false};
    std::thread other([&] {
      ForkGateSection section;
      opened = true;
    });
    other.join();
    if (!opened) return "no section could be opened after the forks";
    uint64_t before = fork_gate_waits();
    if (fork_while_another_thread_holds_a_section() != 0) return "the last child failed";
    if (fork_gate_waits() != before + 1) return "a later fork no longer waits for a section";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

// A fork child knows when it began (its gate handler reads the clock, before any other
// handler of the agent's runs), between the parent's last reading before the fork and the
// child's first own one; the parent notes nothing (its own value stays what it was).
TEST(ForkGate, AForkChildKnowsWhenItBeganAndItsParentWritesNothingForIt) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    const ForkTime own = last_fork_time();  // (this process's own, zeros if no fork made it)
    timespec before_mono, before_unix;
    clock_gettime(CLOCK_MONOTONIC, &before_mono);
    clock_gettime(CLOCK_REALTIME, &before_unix);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return "no pipe";
    pid_t pid = fork();
    if (pid == 0) {
      ForkTime t[2] = {last_fork_time(), {}};
      timespec mono, unix_now;
      clock_gettime(CLOCK_MONOTONIC, &mono);
      clock_gettime(CLOCK_REALTIME, &unix_now);
      t[1] = {unix_now.tv_sec * 1'000'000'000LL + unix_now.tv_nsec,
              mono.tv_sec * 1'000'000'000LL + mono.tv_nsec};
      ssize_t n = write(pipe_fds[1], t, sizeof t);
      _exit(n == sizeof t ? 0 : 1);
    }
    ForkTime seen[2];
    ssize_t n = read(pipe_fds[0], seen, sizeof seen);
    int status = -1;
    waitpid(pid, &status, 0);
    if (n != sizeof seen || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return "the child did not report";
    auto nanos = [](const timespec& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; };
    if (seen[0].monotonic_nanos < nanos(before_mono) ||
        seen[0].monotonic_nanos > seen[1].monotonic_nanos)
      return "the monotonic fork time is not the fork's";
    if (seen[0].unix_nanos < nanos(before_unix) || seen[0].unix_nanos > seen[1].unix_nanos)
      return "the wall-clock fork time is not the fork's";
    ForkTime parent = last_fork_time();
    if (parent.monotonic_nanos != own.monotonic_nanos || parent.unix_nanos != own.unix_nanos)
      return "the parent noted a fork time";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

// A fork child's generation is not its parent's (state tagged with it restarts there: the
// heap recorder's samples since the fork), and the parent's own stays as it was.
TEST(ForkGate, AForkChildHasAGenerationOfItsOwn) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    const uint64_t parent = fork_generation();
    pid_t pid = fork();
    if (pid == 0) _exit(fork_generation() != parent ? 0 : 1);
    int status = -1;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the child has its parent's";
    if (fork_generation() != parent) return "the parent's changed";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

TEST(ForkGate, AfterAWaitRunsOutForksDoNotWaitUntilTheGateIsFreeAgain) {
  auto result = run_in_child([]() -> std::string {
    install_fork_gate();
    set_fork_gate_wait_nanos(100'000'000);  // 0.1 s
    std::atomic<bool> inside{false}, release{false};
    std::thread stuck([&] {  // a section that does not end (a hung file system)
      ForkGateSection section;
      inside = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    });
    while (!inside) std::this_thread::yield();
    uint64_t waits = fork_gate_waits();
    if (fork_and_wait([] { return true; }) != 0) return "first child failed";
    if (fork_gate_timeouts() != 1 || fork_gate_waits() != waits + 1)
      return "the first fork did not wait and give up";
    for (int i = 0; i < 3; ++i)
      if (fork_and_wait([] { return true; }) != 0) return "a later child failed";
    if (fork_gate_waits() != waits + 1) return "later forks waited for the stuck section";
    release = true;
    stuck.join();
    if (fork_and_wait([] { return true; }) != 0) return "child after release failed";
    // Free again: the next section is waited for as usual.
    uint64_t before = fork_gate_waits();
    if (fork_while_another_thread_holds_a_section() != 0) return "last child failed";
    if (fork_gate_waits() != before + 1) return "the gate did not wait again once free";
    if (fork_gate_timeouts() != 1) return "a wait ran out after the gate was free";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " status " << result.status;
}

}  // namespace
}  // namespace profagent
