// Runs a check in a forked child, for unit tests of process-wide state (signal dispositions,
// timers, the dump thread) that must not leak into the rest of the test binary. The check
// returns "" on success or a message naming what failed; the child has 30 s (SIGALRM).
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <functional>
#include <string>

namespace profagent::testing {

struct ChildResult {
  int status = -1;      // waitpid status
  std::string message;  // what the check reported ("" = passed)
  bool passed() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0 && message.empty(); }
};

inline ChildResult run_in_child(const std::function<std::string()>& check) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, "pipe failed"};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(30);
    std::string message = check();
    if (!message.empty()) (void)!write(fds[1], message.data(), message.size());
    _exit(message.empty() ? 0 : 1);
  }
  close(fds[1]);
  ChildResult result;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) result.message.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  waitpid(pid, &result.status, 0);
  return result;
}

}  // namespace profagent::testing

// Inside a check run by run_in_child: returns a message naming the failed condition.
#define CHILD_CHECK(cond)                                                              \
  do {                                                                                 \
    if (!(cond)) return std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond; \
  } while (0)
