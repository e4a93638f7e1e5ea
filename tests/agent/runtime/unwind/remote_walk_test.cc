// Walking ANOTHER thread from its registers: a thread blocked in read() on a pipe is walked
// from the SP/PC in /proc/self/task/TID/syscall (memory read via process_vm_readv), and
// not past a program's signal handler it is blocked in.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/runtime/unwind/unwinder.h"
#include "tests/agent/runtime/unwind/oracle.h"

extern "C" int fixture_blocked_outer(int fd);
extern "C" long fixture_stale_outer(int fd);
extern "C" int fixture_handler_outer(int fd);

namespace profagent {
namespace {

// Runs `body(fd)` on a new thread, waits until that thread blocks in read() (system call 0)
// on the pipe `fd` reads, walks it from the SP/PC in /proc/self/task/TID/syscall, then lets
// it go. `frames` gets the walk; false (with a failure) if the thread never blocked.
bool walk_thread_blocked_in_read(const std::function<void(int)>& body,
                                 std::vector<uintptr_t>* frames) {
  unwind_tables_refresh();
  int fds[2];
  if (pipe(fds) != 0) return false;
  std::atomic<pid_t> tid{0};
  std::thread blocked([&] {
    tid = static_cast<pid_t>(syscall(SYS_gettid));
    body(fds[0]);
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
  std::istringstream in(line);
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(field);
  bool ok = line.rfind("0 ", 0) == 0 && fields.size() == 9u;
  EXPECT_TRUE(ok) << line;
  if (ok) {
    uintptr_t pcs[kMaxFrames];
    int n = unwind_thread_from_registers(std::stoull(fields[8], nullptr, 16),
                                         std::stoull(fields[7], nullptr, 16), 0, pcs, kMaxFrames);
    frames->assign(pcs, pcs + (n > 0 ? n : 0));
  }
  EXPECT_EQ(write(fds[1], "x", 1), 1);
  blocked.join();
  close(fds[0]);
  close(fds[1]);
  return ok;
}

TEST(RemoteWalk, ThreadBlockedInReadShowsItsCallers) {
  std::vector<uintptr_t> frames;
  ASSERT_TRUE(walk_thread_blocked_in_read([](int fd) { fixture_blocked_outer(fd); }, &frames));
  std::string stack = testing::describe_stack(frames.data(), static_cast<int>(frames.size()));
  EXPECT_NE(stack.find("fixture_blocked_inner"), std::string::npos) << stack;
  EXPECT_NE(stack.find("fixture_blocked_outer"), std::string::npos) << stack;
  EXPECT_LT(stack.find("fixture_blocked_inner"), stack.find("fixture_blocked_outer")) << stack;
}

// A frame that needs rbp (CFA = rbp+16) with a stale [frame pointer, return address] pair
// in its locals: rbp is recovered by a scan that accepts only a return address after a call
// into this very function (or an indirect call), never the stale one into another function.
TEST(RemoteWalk, StaleFramePointerPairIsNotTakenForTheCaller) {
  std::vector<uintptr_t> frames;
  ASSERT_TRUE(walk_thread_blocked_in_read([](int fd) { fixture_stale_outer(fd); }, &frames));
  std::string stack = testing::describe_stack(frames.data(), static_cast<int>(frames.size()));
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
  std::vector<uintptr_t> frames;
  ASSERT_TRUE(walk_thread_blocked_in_read([](int fd) { fixture_handler_outer(fd); }, &frames));
  std::string stack = testing::describe_stack(frames.data(), static_cast<int>(frames.size()));
  int signal_frames = 0;
  for (uintptr_t pc : frames) signal_frames += is_signal_return_frame(pc);
  ASSERT_NE(stack.find("fixture_handler_reads"), std::string::npos) << stack;
  EXPECT_EQ(stack.find("fixture_handler_outer"), std::string::npos) << stack;
  EXPECT_EQ(signal_frames, 0) << stack;
  EXPECT_EQ(first_frame_below_agent_handler(frames.data(), static_cast<int>(frames.size())), 0);
}

}  // namespace
}  // namespace profagent
