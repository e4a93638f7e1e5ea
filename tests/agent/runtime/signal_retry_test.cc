// The retry timer (agent/runtime/signal_retry.h): the signal comes back to the calling
// thread after the delay, once per arming, a later arming with another signal brings that
// one, and no timer is left once the retries are over.
#include "agent/runtime/signal_retry.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

namespace profagent {
namespace {

std::atomic<int> g_usr1{0};
std::atomic<int> g_usr2{0};
std::atomic<pid_t> g_on_tid{0};

void count(int sig) {
  (sig == SIGUSR1 ? g_usr1 : g_usr2).fetch_add(1);
  g_on_tid = static_cast<pid_t>(syscall(SYS_gettid));
}

// Kernel timers of this process that deliver SIGUSR1/SIGUSR2 (/proc/self/timers "signal:"
// lines; the test binary's other tests' timers use SIGPROF).
int timers_listed() {
  FILE* f = fopen("/proc/self/timers", "r");
  if (f == nullptr) return -1;
  int n = 0;
  char line[256];
  while (fgets(line, sizeof line, f) != nullptr) {
    int sig = 0;
    if (sscanf(line, "signal: %d/", &sig) == 1 && (sig == SIGUSR1 || sig == SIGUSR2)) ++n;
  }
  fclose(f);
  return n;
}

bool wait_for(const std::atomic<int>& n, int value) {
  for (int i = 0; i < 2000 && n.load() < value; ++i) usleep(1000);
  return n.load() >= value;
}

TEST(SignalRetry, TheSignalComesBackToTheCallingThreadAfterTheDelay) {
  g_usr1 = 0;  // (a --gtest_repeat round counts afresh)
  g_usr2 = 0;
  struct sigaction sa, old1, old2;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = count;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, &old1);
  sigaction(SIGUSR2, &sa, &old2);

  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ASSERT_TRUE(send_signal_again_soon(SIGUSR1, 20 * 1000000LL));
  EXPECT_EQ(g_usr1.load(), 0);  // not at once
  ASSERT_TRUE(wait_for(g_usr1, 1));
  clock_gettime(CLOCK_MONOTONIC, &t1);
  EXPECT_GE((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec), 19 * 1000000LL);
  EXPECT_EQ(g_on_tid.load(), static_cast<pid_t>(syscall(SYS_gettid)));

  ASSERT_TRUE(send_signal_again_soon(SIGUSR1, 1000000));  // the same timer, armed again
  ASSERT_TRUE(wait_for(g_usr1, 2));
  ASSERT_TRUE(send_signal_again_soon(SIGUSR2, 1000000));  // made anew for another signal
  ASSERT_TRUE(wait_for(g_usr2, 1));
  usleep(20 * 1000);
  EXPECT_EQ(g_usr1.load(), 2);  // one delivery per arming
  EXPECT_EQ(g_usr2.load(), 1);
  EXPECT_EQ(timers_listed(), 1);
  end_signal_retries();
  EXPECT_EQ(timers_listed(), 0);  // nothing of the agent's stays in /proc/self/timers

  sigaction(SIGUSR1, &old1, nullptr);
  sigaction(SIGUSR2, &old2, nullptr);
}

}  // namespace
}  // namespace profagent
