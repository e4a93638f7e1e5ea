// Which unshare/setns calls need the program to be the process's only thread
// (agent/runtime/namespace_change.h), as the kernel decides it.
#include "agent/runtime/namespace_change.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>

namespace profagent {
namespace {

TEST(NamespaceChange, UnshareOfAUserNamespaceOrThreadGroupPartsNeedsOneThread) {
  EXPECT_TRUE(unshare_needs_one_thread(CLONE_NEWUSER));
  EXPECT_TRUE(unshare_needs_one_thread(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID));
  EXPECT_TRUE(unshare_needs_one_thread(CLONE_THREAD));
  EXPECT_TRUE(unshare_needs_one_thread(CLONE_SIGHAND));
  EXPECT_TRUE(unshare_needs_one_thread(CLONE_VM));
  // The kernel gives the caller a private copy of these, threads or not.
  EXPECT_FALSE(unshare_needs_one_thread(CLONE_NEWNS));
  EXPECT_FALSE(unshare_needs_one_thread(CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC));
  EXPECT_FALSE(unshare_needs_one_thread(CLONE_FS | CLONE_FILES));
  EXPECT_FALSE(unshare_needs_one_thread(CLONE_NEWPID | CLONE_NEWCGROUP));
  EXPECT_FALSE(unshare_needs_one_thread(0));
}

TEST(NamespaceChange, SetnsIntoAUserMountOrTimeNamespaceNeedsOneThread) {
  EXPECT_TRUE(setns_type_needs_one_thread(CLONE_NEWUSER));
  EXPECT_TRUE(setns_type_needs_one_thread(CLONE_NEWNS));
  EXPECT_TRUE(setns_type_needs_one_thread(0x00000080));  // CLONE_NEWTIME
  EXPECT_TRUE(setns_type_needs_one_thread(0));           // any type
  EXPECT_TRUE(setns_type_needs_one_thread(CLONE_NEWNET | CLONE_NEWNS));  // a pidfd's mask
  EXPECT_FALSE(setns_type_needs_one_thread(CLONE_NEWNET));
  EXPECT_FALSE(setns_type_needs_one_thread(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID));
  EXPECT_FALSE(setns_type_needs_one_thread(CLONE_NEWCGROUP));
}

// nstype 0: the namespace file says what it is; a descriptor that cannot tell counts as
// "might need it". errno is left as it was.
TEST(NamespaceChange, SetnsWithTypeZeroAsksTheNamespaceFile) {
  int net = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  int user = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  int plain = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(net, 0);
  ASSERT_GE(mnt, 0);
  ASSERT_GE(user, 0);
  ASSERT_GE(plain, 0);
  errno = 1234;
  EXPECT_FALSE(setns_needs_one_thread(net, 0));
  EXPECT_TRUE(setns_needs_one_thread(mnt, 0));
  EXPECT_TRUE(setns_needs_one_thread(user, 0));
  EXPECT_TRUE(setns_needs_one_thread(plain, 0));
  EXPECT_TRUE(setns_needs_one_thread(-1, 0));
  EXPECT_EQ(errno, 1234);
  EXPECT_FALSE(setns_needs_one_thread(mnt, CLONE_NEWNET));  // the caller's type decides
  EXPECT_TRUE(setns_needs_one_thread(net, CLONE_NEWNS));
  close(net);
  close(mnt);
  close(user);
  close(plain);
}

}  // namespace
}  // namespace profagent
