// log_warning_direct(): one "profagent: warning:" line on stderr in one write, cut to the
// line buffer, and nothing when PROFAGENT_LOG keeps warnings out. The logger: one
// "profagent: <level>: <message>" line per message (its sink formats by hand).
#include "agent/core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "tests/common/stderr_in_child.h"

namespace {

using profagent::LogLevel;
using profagent::testing::stderr_in_child;

// What log_warning_direct(message) writes to stderr at `level`.
std::string stderr_of_direct_warning(LogLevel level, const std::string& message) {
  return stderr_in_child(level, [&]() -> std::string {
    errno = 1234;
    profagent::log_warning_direct(message);
    return errno == 1234 ? "" : "errno changed";
  });
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

TEST(Logger, WritesOneLinePerMessageWithItsLevel) {
  std::string out = stderr_in_child(LogLevel::kInfo, []() -> std::string {
    profagent::log_info("started for {} (pid {})", "true", 42);
    profagent::log().warn("PROFAGENT_CPU_HZ='{}' is not a number", "abc");
    profagent::log().error("cannot write {}", "/x");
    profagent::log_debug("dropped at info");
    return "";
  });
  EXPECT_EQ(out,
            "profagent: info: started for true (pid 42)\n"
            "profagent: warning: PROFAGENT_CPU_HZ='abc' is not a number\n"
            "profagent: error: cannot write /x\n");
}

}  // namespace
