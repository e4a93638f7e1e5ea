// Agent threads: the creator learns the new thread's tid without waiting for it to run, the
// thread counts as an agent thread as soon as create_agent_thread returns, and once it has
// ended wait_for_agent_thread_end sees it leave the process and forgets its tid.
#include "agent/runtime/agent_thread.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>

#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

std::atomic<pid_t> g_seen_tid{0};
std::atomic<bool> g_may_exit{false};

// Stays alive until allowed to exit: the kernel clears a thread's tid when it ends.
void* report_tid(void*) {
  g_seen_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  while (!g_may_exit.load()) usleep(1000);
  return nullptr;
}

TEST(AgentThread, TidOfThreadIsTheKernelTid) {
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, report_tid, nullptr), 0);
  pid_t from_creator = tid_of_thread(t);
  g_may_exit.store(true);
  pthread_join(t, nullptr);
  EXPECT_GT(from_creator, 0);
  EXPECT_EQ(from_creator, g_seen_tid.load());
  EXPECT_EQ(tid_of_thread(pthread_self()), static_cast<pid_t>(syscall(SYS_gettid)));
}

TEST(AgentThread, RegisteredWhenCreateReturns) {
  g_seen_tid.store(0);
  g_may_exit.store(false);
  pthread_t t;
  ASSERT_EQ(create_agent_thread(&t, report_tid, nullptr, "test-agent"), 0);
  pid_t tid = tid_of_thread(t);
  EXPECT_TRUE(is_agent_thread(tid));  // before the thread necessarily ran
  g_may_exit.store(true);
  pthread_join(t, nullptr);
  EXPECT_EQ(g_seen_tid.load(), tid);
}

}  // namespace
TEST(AgentThread, WaitForEndSeesTheThreadLeaveTheProcessAndForgetsItsTid) {
  g_seen_tid.store(0);
  g_may_exit.store(false);
  pthread_t t;
  ASSERT_EQ(create_agent_thread(&t, report_tid, nullptr, "test-agent"), 0);
  pid_t tid = tid_of_thread(t);
  ASSERT_GT(tid, 0);
  // Still running: the wait gives up after its timeout, and the tid stays an agent thread's.
  auto before = std::chrono::steady_clock::now();
  EXPECT_FALSE(wait_for_agent_thread_end(tid, 50 * 1000000LL));
  EXPECT_GE(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(50));
  EXPECT_TRUE(is_agent_thread(tid));
  g_may_exit.store(true);
  pthread_detach(t);  // as the dump thread: nobody joins it
  EXPECT_TRUE(wait_for_agent_thread_end(tid, 5000 * 1000000LL));
  EXPECT_EQ(syscall(SYS_tgkill, getpid(), tid, 0), -1);  // gone from the thread group
  EXPECT_FALSE(is_agent_thread(tid));
}

// Notes its own tid (the creator's tid_of_thread gives 0 once a thread has already ended)
// and returns at once.
void* note_tid_and_return(void* out) {
  static_cast<std::atomic<pid_t>*>(out)->store(static_cast<pid_t>(syscall(SYS_gettid)));
  return nullptr;
}

// The creator and the new thread both register its tid, and may both add it: once it has
// ended, no slot keeps it (a kept tid, reused by a program thread later, would leave that
// thread out of every profile).
TEST(AgentThread, AnEndedThreadsTidIsForgottenInEverySlot) {
  int kept = 0;
  for (int i = 0; i < 3000; ++i) {
    std::atomic<pid_t> tid{0};
    pthread_t t;
    ASSERT_EQ(create_agent_thread(&t, note_tid_and_return, &tid, "test-agent"), 0);
    pthread_detach(t);
    while (tid.load() == 0) sched_yield();
    ASSERT_TRUE(wait_for_agent_thread_end(tid.load(), 5000 * 1000000LL));
    if (is_agent_thread(tid.load())) {
      ++kept;
      unregister_agent_thread(tid.load());
    }
  }
  EXPECT_EQ(kept, 0);
}

}  // namespace profagent
