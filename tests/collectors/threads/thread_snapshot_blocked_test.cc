// Signal-free capture of blocked threads (collectors/threads/thread_snapshot_blocked.h): the recheck
// and retry rules with a scripted thread that changes under the walk, and a real thread of
// this process that blocks every signal and sits in read().
#include "collectors/threads/thread_snapshot_blocked.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

// A scripted thread: each read of the syscall file / run time returns the next entry (the last
// one repeats); the walk writes three frames starting at the PC and counts its calls.
struct Script {
  std::vector<const char*> syscalls;
  std::vector<uint64_t> run_times;  // empty: schedstat unreadable
  size_t syscall_reads = 0, run_reads = 0;
  int walks = 0;
  int walk_depth = 3;
};
Script* g_script = nullptr;

ProcRead scripted_syscall(pid_t, ThreadSyscall* out) noexcept {
  Script& s = *g_script;
  const char* text = s.syscalls[std::min(s.syscall_reads++, s.syscalls.size() - 1)];
  if (text == nullptr) return ProcRead::kGone;
  return parse_thread_syscall(text, strlen(text), out) ? ProcRead::kOk : ProcRead::kUnreadable;
}
ProcRead scripted_run(pid_t, uint64_t* out) noexcept {
  Script& s = *g_script;
  if (s.run_times.empty()) return ProcRead::kUnreadable;
  *out = s.run_times[std::min(s.run_reads++, s.run_times.size() - 1)];
  return ProcRead::kOk;
}
int scripted_walk(uintptr_t pc, uintptr_t, uintptr_t, uintptr_t* pcs, int max) noexcept {
  ++g_script->walks;
  int n = std::min(g_script->walk_depth, max);
  for (int i = 0; i < n; ++i) pcs[i] = pc + static_cast<uintptr_t>(i) * 0x100;
  return n;
}
constexpr BlockedThreadProbe kScripted{&scripted_syscall, &scripted_run, &scripted_walk};

constexpr const char* kPoll = "7 0x1000 0x1 0x2710 0x0 0x0 0x0 0x7ffd0000 0x7f0000001000\n";
constexpr const char* kPollOtherSp = "7 0x1000 0x1 0x2710 0x0 0x0 0x0 0x7ffd0100 0x7f0000001000\n";
constexpr const char* kFutex = "202 0x2000 0x80 0x0 0x0 0x0 0x0 0x7ffd0000 0x7f0000002000\n";

BlockedCapture run_script(Script& script, uintptr_t* pcs, int max = 64) {
  g_script = &script;
  return capture_blocked_thread(1234, pcs, max, kScripted);
}

TEST(BlockedCapture, AStillThreadIsCapturedAtTheFirstWalk) {
  Script s{{kPoll}, {5000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  EXPECT_EQ(c.attempts, 1);
  EXPECT_EQ(c.syscall.nr, 7);
  ASSERT_EQ(c.depth, 3);
  EXPECT_EQ(pcs[0], 0x7f0000001000u);
  EXPECT_EQ(s.syscall_reads, 2u);  // before and after the walk
  EXPECT_EQ(s.run_reads, 2u);
}

TEST(BlockedCapture, AThreadThatMovedIsWalkedAgain) {
  // First walk: the SP changed (it returned and called again) → retry; then still.
  Script s{{kPoll, kPollOtherSp, kPollOtherSp, kPollOtherSp}, {5000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  EXPECT_EQ(c.attempts, 2);
  EXPECT_EQ(c.syscall.sp, 0x7ffd0100u);
}

TEST(BlockedCapture, AThreadThatRanInBetweenIsWalkedAgainEvenInTheSameWait) {
  // Same registers before and after, but its run time grew: it woke, ran and waited again.
  Script s{{kPoll}, {5000, 6000, 6000, 6000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  EXPECT_EQ(c.attempts, 2);
}

TEST(BlockedCapture, AThreadThatKeepsChangingIsLostNeverWrong) {
  Script s{{kPoll, kFutex, kPoll, kFutex, kPoll, kFutex, kPoll, kFutex}, {5000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kLost);
  EXPECT_EQ(c.attempts, kBlockedCaptureAttempts);
  EXPECT_EQ(c.depth, 0);
  EXPECT_EQ(s.walks, kBlockedCaptureAttempts);
}

TEST(BlockedCapture, ARunningThreadIsLeftToTheSignal) {
  Script s{{"running\n"}, {5000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kRunning);
  EXPECT_EQ(s.walks, 0);
  // Blocked at first, running after the walk: the walk is thrown away.
  Script t{{kPoll, "running\n"}, {5000}};
  c = run_script(t, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kRunning);
  EXPECT_EQ(t.walks, 1);
}

TEST(BlockedCapture, AThreadThatExitsIsGone) {
  Script s{{nullptr}, {5000}};
  uintptr_t pcs[64];
  EXPECT_EQ(run_script(s, pcs).outcome, BlockedCapture::Outcome::kGone);
  Script t{{kPoll, nullptr}, {5000}};
  EXPECT_EQ(run_script(t, pcs).outcome, BlockedCapture::Outcome::kGone);
}

TEST(BlockedCapture, AZombieMainThreadIsGone) {
  // What the kernel shows for a main thread that called pthread_exit while others run on.
  Script s{{"-1 0x0 0x0\n"}, {5000}};
  uintptr_t pcs[64];
  EXPECT_EQ(run_script(s, pcs).outcome, BlockedCapture::Outcome::kGone);
  EXPECT_EQ(s.walks, 0);
}

TEST(BlockedCapture, UnreadableProcIsLost) {
  Script s{{"garbage"}, {5000}};
  uintptr_t pcs[64];
  EXPECT_EQ(run_script(s, pcs).outcome, BlockedCapture::Outcome::kLost);
}

TEST(BlockedCapture, WithoutSchedstatTheSyscallFileDecides) {
  Script s{{kPoll}, {}};
  uintptr_t pcs[64];
  EXPECT_EQ(run_script(s, pcs).outcome, BlockedCapture::Outcome::kCaptured);
}

TEST(BlockedCapture, BlockedOutsideACallIsCapturedWithoutASyscall) {
  Script s{{"-1 0x7ffd0000 0x55550000\n"}, {5000}};
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  EXPECT_EQ(c.syscall.kind, ThreadSyscall::Kind::kBlockedNoCall);
  EXPECT_EQ(pcs[0], 0x55550000u);
}

TEST(BlockedCapture, AnEmptyWalkKeepsTheSavedPc) {
  Script s{{kFutex}, {5000}};
  s.walk_depth = 0;
  uintptr_t pcs[64];
  BlockedCapture c = run_script(s, pcs);
  EXPECT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  ASSERT_EQ(c.depth, 1);
  EXPECT_EQ(pcs[0], 0x7f0000002000u);
}

TEST(BlockedCapture, DepthIsBoundedByTheCaller) {
  Script s{{kPoll}, {5000}};
  s.walk_depth = 10;
  uintptr_t pcs[2];
  EXPECT_EQ(run_script(s, pcs, 2).depth, 2);
}

// A real thread that blocks every signal and waits in read(): captured with its stack, and
// the read is not disturbed.
__attribute__((noinline)) void wait_in_read_with_signals_blocked(int fd, std::atomic<pid_t>* tid,
                                                                 std::atomic<int>* result) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  *tid = current_tid();
  char c;
  ssize_t n = read(fd, &c, 1);
  *result = n == 1 ? c : -errno;
  asm volatile("" ::: "memory");  // keep the call above a real call, not a tail call
}

TEST(BlockedCapture, ARealThreadBlockingEverySignalInReadIsWalked) {
  unwind_tables_refresh();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::atomic<int> result{0};
  std::thread reader(wait_in_read_with_signals_blocked, fds[0], &tid, &result);
  while (tid.load() == 0) std::this_thread::yield();
  uintptr_t pcs[kMaxFrames];
  BlockedCapture c;
  for (int i = 0; i < 500; ++i) {
    c = capture_blocked_thread(tid, pcs, kMaxFrames);
    if (c.outcome == BlockedCapture::Outcome::kCaptured && c.syscall.nr == SYS_read) break;
    usleep(2000);
  }
  ASSERT_EQ(c.outcome, BlockedCapture::Outcome::kCaptured);
  EXPECT_EQ(c.syscall.nr, SYS_read);
  EXPECT_EQ(pcs[0], c.syscall.pc);
  // The walk reaches the function that called read().
  auto fn = reinterpret_cast<uintptr_t>(&wait_in_read_with_signals_blocked);
  bool found = false;
  for (int i = 1; i < c.depth; ++i) found |= pcs[i] > fn && pcs[i] < fn + 512;
  EXPECT_TRUE(found) << "depth " << c.depth;
  ASSERT_EQ(write(fds[1], "k", 1), 1);
  reader.join();
  EXPECT_EQ(result.load(), 'k');
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace profagent
