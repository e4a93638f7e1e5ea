// System call names for the threads profile's `syscall` label (collectors/common/syscall_names.h).
#include "collectors/common/syscall_names.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

namespace profagent {
namespace {

#if defined(__x86_64__)
TEST(SyscallNames, KnowsTheCommonWaitsByTheirX8664Numbers) {
  EXPECT_STREQ(syscall_name(0), "read");
  EXPECT_STREQ(syscall_name(1), "write");
  EXPECT_STREQ(syscall_name(7), "poll");
  EXPECT_STREQ(syscall_name(23), "select");
  EXPECT_STREQ(syscall_name(34), "pause");
  EXPECT_STREQ(syscall_name(35), "nanosleep");
  EXPECT_STREQ(syscall_name(42), "connect");
  EXPECT_STREQ(syscall_name(43), "accept");
  EXPECT_STREQ(syscall_name(44), "sendto");
  EXPECT_STREQ(syscall_name(45), "recvfrom");
  EXPECT_STREQ(syscall_name(47), "recvmsg");
  EXPECT_STREQ(syscall_name(61), "wait4");
  EXPECT_STREQ(syscall_name(128), "rt_sigtimedwait");
  EXPECT_STREQ(syscall_name(130), "rt_sigsuspend");
  EXPECT_STREQ(syscall_name(202), "futex");
  EXPECT_STREQ(syscall_name(230), "clock_nanosleep");
  EXPECT_STREQ(syscall_name(232), "epoll_wait");
  EXPECT_STREQ(syscall_name(257), "openat");
  EXPECT_STREQ(syscall_name(270), "pselect6");
  EXPECT_STREQ(syscall_name(271), "ppoll");
  EXPECT_STREQ(syscall_name(281), "epoll_pwait");
  EXPECT_STREQ(syscall_name(288), "accept4");
}
#endif

TEST(SyscallNames, AgreesWithTheCLibrarysNumbers) {
  EXPECT_STREQ(syscall_name(SYS_read), "read");
  EXPECT_STREQ(syscall_name(SYS_futex), "futex");
  EXPECT_STREQ(syscall_name(SYS_ppoll), "ppoll");
  EXPECT_STREQ(syscall_name(SYS_epoll_pwait), "epoll_pwait");
  EXPECT_STREQ(syscall_name(SYS_clock_nanosleep), "clock_nanosleep");
}

TEST(SyscallNames, UnknownNumbersGetANumberedLabel) {
  EXPECT_EQ(syscall_name(99999), nullptr);
  EXPECT_EQ(syscall_name(-1), nullptr);
  EXPECT_EQ(syscall_label(99999), "syscall_99999");
  EXPECT_EQ(syscall_label(SYS_futex), "futex");
  EXPECT_EQ(syscall_label(-5), "syscall_-5");
}

TEST(SyscallNames, LabelIntoABufferIsCutAndTerminated) {
  char buf[8];
  EXPECT_EQ(syscall_label_into(99999, buf, sizeof buf), 7u);
  EXPECT_STREQ(buf, "syscall");
  char one[1] = {'x'};
  EXPECT_EQ(syscall_label_into(SYS_read, one, sizeof one), 0u);
  EXPECT_EQ(one[0], '\0');
  EXPECT_EQ(syscall_label_into(SYS_read, buf, 0), 0u);
}

}  // namespace
}  // namespace profagent
