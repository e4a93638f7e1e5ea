// The raw signal mask call (agent/core/real_sigaction.h): glibc's internal signals are never
// blocked, errors come back by value and errno is left alone.
#include "agent/core/real_sigaction.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace profagent {
namespace {

uint64_t current_mask_word() {
  sigset_t now;
  EXPECT_EQ(raw_sigmask(SIG_BLOCK, nullptr, &now), 0);
  uint64_t word;
  memcpy(&word, &now, sizeof word);
  return word;
}

TEST(RawSigmask, AHandBuiltFullSetNeverBlocksGlibcsInternalSignals) {
  sigset_t before;
  ASSERT_EQ(raw_sigmask(SIG_BLOCK, nullptr, &before), 0);
  sigset_t all;
  memset(&all, 0xff, sizeof all);  // not sigfillset: every bit, 32 and 33 included
  ASSERT_EQ(raw_sigmask(SIG_SETMASK, &all, nullptr), 0);
  uint64_t word = current_mask_word();
  raw_sigmask(SIG_SETMASK, &before, nullptr);
  EXPECT_EQ((word >> 31) & 1, 0u) << "SIGCANCEL (32) blocked";
  EXPECT_EQ((word >> 32) & 1, 0u) << "SIGSETXID (33) blocked";
  EXPECT_EQ((word >> (SIGUSR1 - 1)) & 1, 1u);
  EXPECT_EQ((word >> (SIGRTMIN + 2 - 1)) & 1, 1u);
}

TEST(RawSigmask, ErrorsComeBackByValueWithErrnoUnchanged) {
  sigset_t set;
  sigemptyset(&set);
  errno = 1234;
  EXPECT_EQ(raw_sigmask(999, &set, nullptr), EINVAL);
  EXPECT_EQ(errno, 1234);
  EXPECT_EQ(raw_sigmask(SIG_BLOCK, &set, nullptr), 0);
  EXPECT_EQ(errno, 1234);
}

}  // namespace
}  // namespace profagent
