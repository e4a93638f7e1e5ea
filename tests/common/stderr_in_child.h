// What a check writes to stderr, run in a forked child (run_in_child.h) at a given log
// level: for unit tests of the agent's warnings, which go to the process's stderr.
#pragma once

#include <unistd.h>

#include <string>

#include "agent/core/log.h"
#include "tests/common/run_in_child.h"

namespace profagent::testing {

// What `say` writes to stderr at `level`, in a child process; `say` returns "" or what
// failed, and a failure is returned as "child: <what failed>".
template <typename Say>
std::string stderr_in_child(LogLevel level, Say say) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  ChildResult child = run_in_child([&]() -> std::string {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    set_log_level(level);
    return say();
  });
  close(fds[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  if (!child.passed()) return "child: " + child.message;
  return out;
}

}  // namespace profagent::testing
