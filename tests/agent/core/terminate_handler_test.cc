// The agent's std::terminate handler (agent/core/terminate_handler.h): one line naming the
// agent and what() of the exception being handled, then abort.
#include "agent/core/terminate_handler.h"

#include <gtest/gtest.h>

#include <csignal>
#include <stdexcept>

namespace profagent {
namespace {

TEST(TerminateHandlerDeathTest, NamesTheAgentAndTheExceptionThenAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        try {
          throw std::runtime_error("the table is full");
        } catch (...) {
          agent_terminate();
        }
      },
      testing::KilledBySignal(SIGABRT),
      "^profagent: internal error: std::terminate called in the agent after an exception: "
      "the table is full\n$");
  EXPECT_EXIT(
      {
        try {
          throw 7;
        } catch (...) {
          agent_terminate();
        }
      },
      testing::KilledBySignal(SIGABRT),
      "^profagent: internal error: std::terminate called in the agent after an exception\n$");
  EXPECT_EXIT(agent_terminate(), testing::KilledBySignal(SIGABRT),
              "^profagent: internal error: std::terminate called in the agent\n$");
}

}  // namespace
}  // namespace profagent
