// enter_private_file_table(): a thread's own file table. What it opens is not in the
// program's table, a program dup2() onto the same number does not touch it, it keeps none
// of the program's descriptors open (a pipe's reader sees EOF), and its log lines reach the
// program's stderr as it is at the time of the write. Each case in a forked child.
#include "agent/runtime/private_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include <atomic>
#include <string>
#include <thread>

#include "agent/core/program_stderr.h"
#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

void expect_passed(const testing::ChildResult& result) {
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

// Reads what `fd` has within 2 s ("" at EOF or on timeout).
std::string read_some(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, 2000) <= 0) return "<timeout>";
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string link_of(int fd) {
  char path[64], target[256];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(path, target, sizeof target - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

TEST(PrivateFiles, AThreadsFilesAreItsOwnAndItKeepsNoneOfTheProgramsOpen) {
  expect_passed(testing::run_in_child([]() -> std::string {
    private_files_start();  // (the constructor's call)
    int pipe_fds[2];
    CHILD_CHECK(pipe(pipe_fds) == 0);
    std::atomic<int> state{0}, thread_fd{-1};
    std::atomic<bool> entered{false}, still_zero{false};
    std::thread agent([&] {
      entered = enter_private_file_table();
      thread_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
      state = 1;
      while (state.load() != 2) std::this_thread::yield();
      char c = 1;
      still_zero = read(thread_fd, &c, 1) == 1 && c == 0;
      state = 3;
    });
    while (state.load() != 1) std::this_thread::yield();
    CHILD_CHECK(entered.load());
    CHILD_CHECK(thread_fd.load() > 2);  // 0-2 are parked on /dev/null in its table
    CHILD_CHECK(link_of(thread_fd.load()) != "/dev/zero");  // not in the program's table
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHILD_CHECK(dup2(devnull, thread_fd.load()) == thread_fd.load());  // the program's now
    close(pipe_fds[1]);  // the only writer the program has: its reader must see EOF
    std::string after_close = read_some(pipe_fds[0]);
    state = 2;
    while (state.load() != 3) std::this_thread::yield();
    agent.join();
    CHILD_CHECK(after_close.empty());
    CHILD_CHECK(still_zero.load());
    return "";
  }));
}

TEST(PrivateFiles, LogLinesGoToTheProgramsStderrAsItIsThen) {
  expect_passed(testing::run_in_child([]() -> std::string {
    private_files_start();
    std::atomic<int> state{0};
    std::atomic<bool> entered{false};
    std::thread agent([&] {
      entered = enter_private_file_table();
      state = 1;
      while (state.load() != 2) std::this_thread::yield();
      write_program_stderr("hello\n", 6);
      state = 3;
    });
    while (state.load() != 1) std::this_thread::yield();
    CHILD_CHECK(entered.load());
    int pipe_fds[2];
    CHILD_CHECK(pipe(pipe_fds) == 0);
    CHILD_CHECK(dup2(pipe_fds[1], STDERR_FILENO) == STDERR_FILENO);  // after the thread began
    close(pipe_fds[1]);
    state = 2;
    while (state.load() != 3) std::this_thread::yield();
    agent.join();
    CHILD_CHECK(read_some(pipe_fds[0]) == "hello\n");
    close(STDERR_FILENO);  // the last writer: no copy of it lives on in the thread's table
    CHILD_CHECK(read_some(pipe_fds[0]).empty());
    return "";
  }));
}

// A seccomp policy that refuses pidfd_open (EPERM), as a sandboxing program sets after its
// start: x86-64 only, every other call allowed.
bool refuse_pidfd_open() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Whether a thread can borrow the program's stderr through a pidfd is asked when a thread
// first wants a table of its own, not at the start (a process that starts no agent thread
// makes no such call): a policy the program set after the start is seen, and the thread
// keeps the program's table, its descriptors and log lines as they were without a table of
// its own. (Probed at start, the answer was "works", the thread took a table of its own and
// then could not open its pidfd.) The probe itself opens nothing.
TEST(PrivateFiles, APolicyRefusingPidfdsSetAfterTheStartKeepsThreadsOnTheProgramsTable) {
  expect_passed(testing::run_in_child([]() -> std::string {
    private_files_start();
    CHILD_CHECK(refuse_pidfd_open());
    const int next_before = dup(STDIN_FILENO);
    CHILD_CHECK(next_before >= 0);
    close(next_before);
    std::atomic<bool> entered{true};
    std::atomic<int> thread_fd{-1};
    std::thread agent([&] {
      entered = enter_private_file_table();
      thread_fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    });
    agent.join();
    CHILD_CHECK(!entered.load());
    // The thread's file is in the program's table, at the number the program would get next:
    // the probe left no descriptor behind.
    CHILD_CHECK(thread_fd.load() == next_before);
    CHILD_CHECK(link_of(thread_fd.load()) == "/dev/zero");
    return "";
  }));
}

}  // namespace
}  // namespace profagent
