// Listing the process's threads (agent/runtime/threads/thread_registry.h): for_each_thread
// visits every live thread and stops when asked; list_threads is complete past the room it
// reserves first (64), which it grows between walks.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/threads/thread_registry.h"
#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

// Threads that wait until released, each with its tid known.
class ParkedThreads {
 public:
  explicit ParkedThreads(int n) : tids_(n) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this, i] {
        tids_[i] = static_cast<pid_t>(syscall(SYS_gettid));
        started_.fetch_add(1);
        while (!release_.load()) usleep(1000);
      });
    while (started_.load() < n) usleep(1000);
  }
  ~ParkedThreads() {
    release_.store(true);
    for (std::thread& t : threads_) t.join();
  }
  const std::vector<pid_t>& tids() const { return tids_; }

 private:
  std::vector<pid_t> tids_;
  std::vector<std::thread> threads_;
  std::atomic<int> started_{0};
  std::atomic<bool> release_{false};
};

TEST(ThreadList, ListsEveryThreadPastTheFirstRoom) {
  ParkedThreads parked(150);
  std::vector<pid_t> listed = list_threads();
  EXPECT_GE(listed.size(), 151u);
  for (pid_t tid : parked.tids())
    EXPECT_NE(std::find(listed.begin(), listed.end(), tid), listed.end()) << tid;
  EXPECT_NE(std::find(listed.begin(), listed.end(), getpid()), listed.end());
}

TEST(ThreadList, ForEachThreadStopsWhenTheVisitSaysSo) {
  ParkedThreads parked(5);
  int visits = 0;
  EXPECT_TRUE(for_each_thread([](pid_t, void* n) { return ++*static_cast<int*>(n) < 3; }, &visits));
  EXPECT_EQ(visits, 3);
  int all = 0;
  for_each_thread([](pid_t, void* n) { return ++*static_cast<int*>(n), true; }, &all);
  EXPECT_GE(all, 6);
}

// The look both "is the program alone" (unshare/setns hooks) and "has its last thread
// ended" (the exit watch) ask: a thread of the program's other than the caller.
TEST(ThreadList, OtherProgramThreadSeesAThreadBesideTheCaller) {
  testing::ChildResult alone = testing::run_in_child([]() -> std::string {
    const pid_t me = static_cast<pid_t>(syscall(SYS_gettid));
    if (other_program_thread(me, false)) return "a lone thread saw another";
    if (!other_program_thread(0, true)) return "the caller itself was not seen";
    return "";
  });
  EXPECT_TRUE(alone.passed()) << alone.message;
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  ParkedThreads parked(1);
  EXPECT_TRUE(other_program_thread(self, false));
  EXPECT_TRUE(other_program_thread(self, true));
}

}  // namespace
}  // namespace profagent
