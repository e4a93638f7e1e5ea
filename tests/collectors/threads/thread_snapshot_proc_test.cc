// /proc parsing for the threads snapshot (collectors/threads/thread_snapshot_proc.h): every format the
// kernel writes to /proc/PID/task/TID/syscall, schedstat, and the real files of a thread
// blocked in a known call.
#include "collectors/threads/thread_snapshot_proc.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

bool parse(const char* text, ThreadSyscall* out) {
  return parse_thread_syscall(text, strlen(text), out);
}

TEST(ThreadSyscallParse, InASystemCall) {
  ThreadSyscall s;
  ASSERT_TRUE(parse("7 0x7ffc1234 0x1 0xffffffff 0x0 0x0 0x0 0x7ffc11112220 0x7f3fe9e9f503\n", &s));
  EXPECT_EQ(s.kind, ThreadSyscall::Kind::kInSyscall);
  EXPECT_EQ(s.nr, 7);
  EXPECT_EQ(s.args[0], 0x7ffc1234u);
  EXPECT_EQ(s.args[1], 1u);
  EXPECT_EQ(s.args[2], 0xffffffffu);
  EXPECT_EQ(s.args[5], 0u);
  EXPECT_EQ(s.sp, 0x7ffc11112220u);
  EXPECT_EQ(s.pc, 0x7f3fe9e9f503u);
  // Upper-case hex and no trailing newline are accepted too.
  ASSERT_TRUE(parse("230 0x0 0x0 0xA 0xB 0x0 0x0 0x7FFE0 0x7F00A", &s));
  EXPECT_EQ(s.nr, 230);
  EXPECT_EQ(s.args[2], 0xAu);
  EXPECT_EQ(s.pc, 0x7F00Au);
}

TEST(ThreadSyscallParse, Running) {
  ThreadSyscall s;
  s.kind = ThreadSyscall::Kind::kInSyscall;
  ASSERT_TRUE(parse("running\n", &s));
  EXPECT_EQ(s.kind, ThreadSyscall::Kind::kRunning);
  EXPECT_EQ(s.pc, 0u);
}

TEST(ThreadSyscallParse, BlockedOutsideASystemCall) {
  ThreadSyscall s;
  ASSERT_TRUE(parse("-1 0x7ffe5a5a5a50 0x55d0c0de1234\n", &s));
  EXPECT_EQ(s.kind, ThreadSyscall::Kind::kBlockedNoCall);
  EXPECT_EQ(s.nr, -1);
  EXPECT_EQ(s.sp, 0x7ffe5a5a5a50u);
  EXPECT_EQ(s.pc, 0x55d0c0de1234u);
}

TEST(ThreadSyscallParse, RejectsWhatTheKernelNeverWrites) {
  ThreadSyscall s;
  EXPECT_FALSE(parse("", &s));
  EXPECT_FALSE(parse("runningx\n", &s));
  EXPECT_FALSE(parse("running 0x1\n", &s));
  EXPECT_FALSE(parse("7 0x1 0x2\n", &s));                                 // too few
  EXPECT_FALSE(parse("7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8 0x9\n", &s));     // too many
  EXPECT_FALSE(parse("7 1 2 3 4 5 6 7 8\n", &s));                         // not hex
  EXPECT_FALSE(parse("-2 0x1 0x2\n", &s));
  EXPECT_FALSE(parse("-1 0x1\n", &s));
  EXPECT_FALSE(parse("7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0xZZ\n", &s));
  EXPECT_FALSE(parse("7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x10000000000000000\n", &s));  // > 64 bits
  EXPECT_FALSE(parse("x7 0x1 0x2 0x3 0x4 0x5 0x6 0x7 0x8\n", &s));
}

TEST(ThreadSyscallParse, SameWaitComparesEveryField) {
  ThreadSyscall a, b;
  ASSERT_TRUE(parse("7 0x1 0x2 0x3 0x4 0x5 0x6 0x70 0x80\n", &a));
  b = a;
  EXPECT_TRUE(a.same_wait(b));
  b.args[3] = 9;
  EXPECT_FALSE(a.same_wait(b));
  b = a;
  b.sp += 8;
  EXPECT_FALSE(a.same_wait(b));
  b = a;
  b.pc += 1;
  EXPECT_FALSE(a.same_wait(b));
  b = a;
  b.nr = 8;
  EXPECT_FALSE(a.same_wait(b));
  ThreadSyscall running;
  EXPECT_FALSE(a.same_wait(running));
}

TEST(SchedstatParse, RunTimeIsTheFirstField) {
  uint64_t v = 0;
  const char text[] = "34357158 15093011 103\n";
  ASSERT_TRUE(parse_schedstat_run_nanos(text, strlen(text), &v));
  EXPECT_EQ(v, 34357158u);
  EXPECT_FALSE(parse_schedstat_run_nanos("", 0, &v));
  EXPECT_FALSE(parse_schedstat_run_nanos("abc 1 2", 7, &v));
}

TEST(ThreadSyscallRead, AThreadBlockedInReadShowsReadAndStaysPut) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::thread reader([&] {
    tid = current_tid();
    char c;
    (void)!read(fds[0], &c, 1);
  });
  while (tid.load() == 0) std::this_thread::yield();
  ThreadSyscall s;
  for (int i = 0; i < 500; ++i) {  // until it is in the kernel
    ASSERT_EQ(read_thread_syscall(tid, &s), ProcRead::kOk);
    if (s.kind == ThreadSyscall::Kind::kInSyscall && s.nr == SYS_read) break;
    usleep(2000);
  }
  EXPECT_EQ(s.kind, ThreadSyscall::Kind::kInSyscall);
  EXPECT_EQ(s.nr, SYS_read);
  EXPECT_EQ(s.args[0], static_cast<uint64_t>(fds[0]));
  EXPECT_NE(s.sp, 0u);
  EXPECT_NE(s.pc, 0u);
  uint64_t run1 = 0, run2 = 0;
  ASSERT_EQ(read_thread_run_nanos(tid, &run1), ProcRead::kOk);
  usleep(20000);
  ThreadSyscall again;
  ASSERT_EQ(read_thread_syscall(tid, &again), ProcRead::kOk);
  ASSERT_EQ(read_thread_run_nanos(tid, &run2), ProcRead::kOk);
  EXPECT_TRUE(s.same_wait(again));
  EXPECT_EQ(run1, run2);  // a blocked thread does not run

  ASSERT_EQ(write(fds[1], "x", 1), 1);
  reader.join();
  pid_t gone = tid;
  EXPECT_EQ(read_thread_syscall(gone, &s), ProcRead::kGone);
  EXPECT_EQ(read_thread_run_nanos(gone, &run1), ProcRead::kGone);
  close(fds[0]);
  close(fds[1]);
}

TEST(ThreadSyscallRead, ARunningThreadIsRunning) {
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread spinner([&] {
    tid = current_tid();
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  while (tid.load() == 0) std::this_thread::yield();
  ThreadSyscall s;
  bool seen_running = false;
  for (int i = 0; i < 200 && !seen_running; ++i) {
    ASSERT_EQ(read_thread_syscall(tid, &s), ProcRead::kOk);
    seen_running = s.kind == ThreadSyscall::Kind::kRunning;
  }
  EXPECT_TRUE(seen_running);
  stop = true;
  spinner.join();
}

}  // namespace
}  // namespace profagent
