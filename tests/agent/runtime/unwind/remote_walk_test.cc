// Walking ANOTHER thread from its registers: a thread blocked in read() on a pipe is walked
// from the SP/PC in /proc/self/task/TID/syscall (memory read via process_vm_readv), and
// not past a program's signal handler it is blocked in.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "agent/runtime/unwind/unwinder.h"
#include "tests/agent/runtime/unwind/oracle.h"

extern "C" int fixture_blocked_outer(int fd);
extern "C" long fixture_stale_outer(int fd);
extern "C" int fixture_handler_outer(int fd);

namespace profagent {
namespace {

TEST(RemoteWalk, ThreadBlockedInReadShowsItsCallers) {
  unwind_tables_refresh();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::thread blocked([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    fixture_blocked_outer(fds[0]);
  });
  while (tid.load() == 0) usleep(100);
  std::string path = "/proc/self/task/" + std::to_string(tid.load()) + "/syscall";
  std::string line;
  // Wait until the thread sits in read (syscall 0).
  for (int i = 0; i < 2000; ++i) {
    std::ifstream f(path);
    std::getline(f, line);
    if (line.rfind("0 ", 0) == 0) break;
    usleep(1000);
  }
  ASSERT_EQ(line.rfind("0 ", 0), 0u) << line;
  std::istringstream in(line);
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  ASSERT_EQ(fields.size(), 9u) << line;
  uintptr_t sp = std::stoull(fields[7], nullptr, 16);
  uintptr_t pc = std::stoull(fields[8], nullptr, 16);
  uintptr_t pcs[kMaxFrames];
  int n = unwind_thread_from_registers(pc, sp, 0, pcs, kMaxFrames);
  std::string stack = testing::describe_stack(pcs, n);
  EXPECT_NE(stack.find("fixture_blocked_inner"), std::string::npos) << stack;
  EXPECT_NE(stack.find("fixture_blocked_outer"), std::string::npos) << stack;
  EXPECT_LT(stack.find("fixture_blocked_inner"), stack.find("fixture_blocked_outer")) << stack;
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  blocked.join();
  close(fds[0]);
  close(fds[1]);
}

// A frame that needs rbp (CFA = rbp+16) with a stale [frame pointer, return address] pair
// in its locals: rbp is recovered by a scan that accepts only a return address after a call
// into this very function (or an indirect call), never the stale one into another function.
TEST(RemoteWalk, StaleFramePointerPairIsNotTakenForTheCaller) {
  unwind_tables_refresh();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::thread blocked([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    fixture_stale_outer(fds[0]);
  });
  while (tid.load() == 0) usleep(100);
  std::string path = "/proc/self/task/" + std::to_string(tid.load()) + "/syscall";
  std::string line;
  for (int i = 0; i < 2000; ++i) {
    std::ifstream f(path);
    std::getline(f, line);
    if (line.rfind("0 ", 0) == 0) break;
    usleep(1000);
  }
  ASSERT_EQ(line.rfind("0 ", 0), 0u) << line;
  std::istringstream in(line);
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  ASSERT_EQ(fields.size(), 9u) << line;
  uintptr_t sp = std::stoull(fields[7], nullptr, 16);
  uintptr_t pc = std::stoull(fields[8], nullptr, 16);
  uintptr_t pcs[kMaxFrames];
  int n = unwind_thread_from_registers(pc, sp, 0, pcs, kMaxFrames);
  std::string stack = testing::describe_stack(pcs, n);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  blocked.join();
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(stack.find("fixture_stale_decoy"), std::string::npos) << stack;
  ASSERT_NE(stack.find("fixture_stale_framed"), std::string::npos) << stack;
  ASSERT_NE(stack.find("fixture_stale_outer"), std::string::npos) << stack;
  EXPECT_LT(stack.find("fixture_stale_framed"), stack.find("fixture_stale_outer")) << stack;
}

// The blocked thread is inside a program's frame-pointer handler (CFA rbp+16, rbp unknown):
// the walk shows the handler and stops there. A return into __restore_rt follows no call,
// and only the agent's own handler (a thread waiting for the termination dump) is followed
// through it: in another function such a slot may be a stale signal frame in its locals.
TEST(RemoteWalk, ThreadBlockedInsideAProgramsSignalHandlerIsNotWalkedPastIt) {
  unwind_tables_refresh();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::atomic<pid_t> tid{0};
  std::thread blocked([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    fixture_handler_outer(fds[0]);
  });
  while (tid.load() == 0) usleep(100);
  std::string path = "/proc/self/task/" + std::to_string(tid.load()) + "/syscall";
  std::string line;
  for (int i = 0; i < 2000; ++i) {
    std::ifstream f(path);
    std::getline(f, line);
    if (line.rfind("0 ", 0) == 0) break;
    usleep(1000);
  }
  ASSERT_EQ(line.rfind("0 ", 0), 0u) << line;
  std::istringstream in(line);
  std::string field;
  std::vector<std::string> fields;
  while (in >> field) fields.push_back(field);
  ASSERT_EQ(fields.size(), 9u) << line;
  uintptr_t sp = std::stoull(fields[7], nullptr, 16);
  uintptr_t pc = std::stoull(fields[8], nullptr, 16);
  uintptr_t pcs[kMaxFrames];
  int n = unwind_thread_from_registers(pc, sp, 0, pcs, kMaxFrames);
  std::string stack = testing::describe_stack(pcs, n);
  int signal_frames = 0;
  for (int i = 0; i < n; ++i) signal_frames += is_signal_return_frame(pcs[i]);
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  blocked.join();
  close(fds[0]);
  close(fds[1]);
  ASSERT_NE(stack.find("fixture_handler_reads"), std::string::npos) << stack;
  EXPECT_EQ(stack.find("fixture_handler_outer"), std::string::npos) << stack;
  EXPECT_EQ(signal_frames, 0) << stack;
  EXPECT_EQ(first_frame_below_agent_handler(pcs, n), 0);
}

}  // namespace
}  // namespace profagent
