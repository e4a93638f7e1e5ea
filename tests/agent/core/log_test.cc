// log_warning_direct(): one "profagent: warning:" line on stderr in one write, cut to the
// line buffer, and nothing when PROFAGENT_LOG keeps warnings out.
#include "agent/core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/common/run_in_child.h"

namespace {

using profagent::LogLevel;

// What log_warning_direct(message) writes to stderr at `level`, in a child process.
std::string stderr_of_direct_warning(LogLevel level, const std::string& message) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  profagent::testing::ChildResult child = profagent::testing::run_in_child([&]() -> std::string {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    profagent::set_log_level(level);
    errno = 1234;
    profagent::log_warning_direct(message);
    return errno == 1234 ? "" : "errno changed";
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

TEST(LogWarningDirect, WritesOneWarningLine) {
  EXPECT_EQ(stderr_of_direct_warning(LogLevel::kWarn, "running under valgrind"),
            "profagent: warning: running under valgrind\n");
  EXPECT_EQ(stderr_of_direct_warning(LogLevel::kDebug, "x"), "profagent: warning: x\n");
}

TEST(LogWarningDirect, SaysNothingWhenWarningsAreOff) {
  EXPECT_EQ(stderr_of_direct_warning(LogLevel::kError, "quiet"), "");
  EXPECT_EQ(stderr_of_direct_warning(LogLevel::kOff, "quiet"), "");
}

TEST(LogWarningDirect, CutsALongMessageToOneLine) {
  std::string out = stderr_of_direct_warning(LogLevel::kWarn, std::string(2000, 'a'));
  ASSERT_EQ(out.size(), 512u);
  EXPECT_EQ(out.rfind("profagent: warning: aaa", 0), 0u);
  EXPECT_EQ(out.back(), '\n');
}

}  // namespace
