// Reading one field of a /proc status file (agent/core/proc_status.h).
#include "agent/core/proc_status.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace profagent {
namespace {

TEST(ProcStatus, ReadsTheCallingThreadsBlockedSignals) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%ld/status", static_cast<long>(syscall(SYS_gettid)));
  std::optional<uint64_t> blocked = proc_status_hex(path, "SigBlk");
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(blocked.has_value());
  EXPECT_TRUE((*blocked >> (SIGUSR1 - 1)) & 1);
  std::optional<uint64_t> after = proc_status_hex(path, "SigBlk");
  ASSERT_TRUE(after.has_value());
  EXPECT_FALSE((*after >> (SIGUSR1 - 1)) & 1);
}

TEST(ProcStatus, FieldNamesMatchWholeAtALineStart) {
  // "Sig" alone is no field; "SigQ" is decimal but present; "CapEff" is hex.
  EXPECT_FALSE(proc_status_hex("/proc/self/status", "Sig").has_value());
  EXPECT_TRUE(proc_status_hex("/proc/self/status", "CapEff").has_value());
  EXPECT_FALSE(proc_status_hex("/proc/self/status", "NoSuchField").has_value());
  EXPECT_FALSE(proc_status_hex("/nonexistent/status", "SigBlk").has_value());
}

TEST(ProcStatus, TheFirstLineIsFound) {
  char dir[] = "/tmp/proc-status-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/status";
  FILE* f = fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fputs("SigBlk:\t0000000000000200\nCapEff:\t00000000000000ff\n", f);
  fclose(f);
  EXPECT_EQ(proc_status_hex(path.c_str(), "SigBlk"), 0x200u);
  EXPECT_EQ(proc_status_hex(path.c_str(), "CapEff"), 0xffu);
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace profagent
