// The TLS-cached tid and thread name (agent/runtime/threads/thread_identity.h).
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "agent/core/process_id.h"
#include "agent/runtime/threads/thread_identity.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

pid_t gettid_syscall() { return static_cast<pid_t>(syscall(SYS_gettid)); }

TEST(ThreadIdentity, TidIsTheCallersBeforeAndAfterCaching) {
  std::thread([] {
    EXPECT_EQ(current_tid(), gettid_syscall());  // not cached: the system call
    remember_current_tid();
    EXPECT_EQ(current_tid(), gettid_syscall());
  }).join();
  std::thread([] { EXPECT_EQ(current_tid(), gettid_syscall()); }).join();  // its own
}

// During the agent's start (a StartPid scope) the tid is the pid only on the process's
// initial thread of a process that never had another (glibc's flag): a thread made since
// gets its own tid, not the pid the start read. (This test program has had threads: the
// flag is off, and a started thread's tid is asked of the kernel.)
TEST(ThreadIdentity, DuringTheStartAThreadMadeSinceGetsItsOwnTid) {
  std::thread([] {
    StartPid start;
    remember_current_tid();
    EXPECT_EQ(current_tid(), gettid_syscall());
    EXPECT_NE(current_tid(), getpid());
  }).join();
}

TEST(ThreadIdentity, ForkChildSeesItsOwnTid) {
  remember_current_tid();
  pid_t parent = current_tid();
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) _exit(current_tid() == gettid_syscall() && current_tid() != parent ? 0 : 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(ThreadIdentity, NameIsCachedUntilARenameIsNoted) {
  std::thread([] {
    syscall(SYS_prctl, PR_SET_NAME, "ident-one", 0, 0, 0);
    note_thread_renamed();
    char name[16];
    current_thread_name(name);
    EXPECT_STREQ(name, "ident-one");
    // A rename the interposers did not see (the raw system call) keeps the cached name...
    syscall(SYS_prctl, PR_SET_NAME, "ident-two", 0, 0, 0);
    current_thread_name(name);
    EXPECT_STREQ(name, "ident-one");
    // ...until one is noted (as pthread_setname_np and prctl do in libprofagent.so).
    note_thread_renamed();
    current_thread_name(name);
    EXPECT_STREQ(name, "ident-two");
  }).join();
}

}  // namespace
}  // namespace profagent
