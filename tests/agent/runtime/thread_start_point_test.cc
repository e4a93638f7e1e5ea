// Where the agent may start a thread on the program's own thread (thread_start_point.h): a
// signal that interrupted program code or a system call blocked in glibc, yes; one that
// interrupted a qsort callback or a signal handler, no (for as long as it blocks, when it
// blocks there); a hook called from program code, yes, but not inside an allocator entry
// point; an exit path inside a handler, told apart by what that handler interrupted. Each
// case puts the test's main thread in the state, and another thread sends the signal.
#include "agent/runtime/thread_start_point.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>
#include <pthread.h>
#include <ucontext.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

std::atomic<int> g_verdict{-1};    // may_start_thread_at in the SIGUSR1 handler (StartPoint)
std::atomic<int> g_here{-1};       // may_start_thread_here in the SIGUSR2 handler
std::atomic<int> g_exit_point{-1}; // where_exit_runs in the SIGUSR2 handler
std::atomic<bool> g_in_state{false};
uintptr_t g_libc_lo = 0, g_libc_hi = 0;  // libc's executable segment (SetUp)

void judge_interrupted_point(int, siginfo_t*, void* uc) {
  g_verdict = static_cast<int>(may_start_thread_at(uc));
}

void judge_from_handler(int, siginfo_t*, void*) {
  g_here = may_start_thread_here();
  g_exit_point = static_cast<int>(where_exit_runs());
}

__attribute__((noinline)) void spin_until(std::atomic<int>& answer) {
  g_in_state = true;
  while (answer.load() < 0) asm volatile("" ::: "memory");
}

int compare_spinning(const void* a, const void* b) {
  spin_until(g_verdict);
  spin_until(g_exit_point);
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

class ThreadStartPoint : public ::testing::Test {
 protected:
  void SetUp() override {
    note_current_thread_stack();
    unwind_tables_refresh();
    ASSERT_TRUE(wait_for_unwind_tables(2000 * 1000000LL));
    remember_libc_and_loader_code();
    find_libc_code();
    install(SIGUSR1, judge_interrupted_point, &old1_);
    install(SIGUSR2, judge_from_handler, &old2_);
    g_verdict = g_here = g_exit_point = -1;
    g_in_state = false;
  }
  void TearDown() override {
    sigaction(SIGUSR1, &old1_, nullptr);
    sigaction(SIGUSR2, &old2_, nullptr);
  }

  // libc's executable segment, from the object that holds memchr.
  static void find_libc_code() {
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void*) {
          auto probe = reinterpret_cast<uintptr_t>(dlsym(RTLD_DEFAULT, "memchr"));
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            uintptr_t lo = info->dlpi_addr + ph.p_vaddr, hi = lo + ph.p_memsz;
            if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && probe >= lo && probe < hi) {
              g_libc_lo = lo;
              g_libc_hi = hi;
              return 1;
            }
          }
          return 0;
        },
        nullptr);
  }

  static void install(int sig, void (*handler)(int, siginfo_t*, void*), struct sigaction* old) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigaction(sig, &sa, old);
  }

  // Another thread sends `sig` to this one once it is in its state (g_in_state, or after a
  // pause for a blocking call), then `after` (e.g. unblocks it).
  template <typename After>
  std::thread send_when_ready(int sig, bool wait_for_flag, After after) {
    pthread_t target = pthread_self();
    return std::thread([=] {
      if (wait_for_flag) {
        while (!g_in_state.load()) usleep(100);
      } else {
        usleep(50 * 1000);  // long enough to be blocked in the call
      }
      pthread_kill(target, sig);
      after();
    });
  }

  // This thread blocks in read() on a pipe; another sends `sig` while it is blocked, and
  // writes a byte once the handler has set `answer` (the read restarts: SA_RESTART).
  void block_in_read_until_answered(int sig, std::atomic<int>& answer) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    std::thread sender = send_when_ready(sig, false, [&] {
      while (answer.load() < 0) usleep(100);
      char c = 'x';
      EXPECT_EQ(write(fds[1], &c, 1), 1);
    });
    char c;
    EXPECT_EQ(read(fds[0], &c, 1), 1);
    sender.join();
    close(fds[0]);
    close(fds[1]);
  }

  struct sigaction old1_, old2_;
};

TEST_F(ThreadStartPoint, ProgramCodeIsAPlaceToStartAThread) {
  std::thread sender = send_when_ready(SIGUSR1, true, [] {});
  spin_until(g_verdict);
  sender.join();
  EXPECT_EQ(g_verdict.load(), static_cast<int>(StartPoint::kAccepted));
}

TEST_F(ThreadStartPoint, AGlibcCallBlockedInASystemCallIsToo) {
  block_in_read_until_answered(SIGUSR1, g_verdict);
  EXPECT_EQ(g_verdict.load(), static_cast<int>(StartPoint::kAccepted));
}

TEST_F(ThreadStartPoint, ACallbackFromInsideGlibcIsNot) {
  std::thread sender = send_when_ready(SIGUSR1, true, [] {
    while (g_verdict.load() < 0) usleep(100);
    g_exit_point = 0;  // lets the comparator go on
  });
  int values[2] = {2, 1};
  qsort(values, 2, sizeof values[0], compare_spinning);
  sender.join();
  EXPECT_EQ(g_verdict.load(), static_cast<int>(StartPoint::kRefused));
}

// Blocked in read() from inside a qsort callback: refused, and said to be refused while
// blocked (a retry signal would only interrupt that read again).
int g_read_fd = -1;
int compare_reading(const void* a, const void* b) {
  g_in_state = true;
  char c;
  (void)!read(g_read_fd, &c, 1);
  return *static_cast<const int*>(a) - *static_cast<const int*>(b);
}

TEST_F(ThreadStartPoint, ABlockedCallInsideACallbackIsRefusedForAsLongAsItBlocks) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  g_read_fd = fds[0];
  std::thread sender = send_when_ready(SIGUSR1, true, [&] {
    while (g_verdict.load() < 0) usleep(100);
    char c = 'x';
    EXPECT_EQ(write(fds[1], &c, 1), 1);
  });
  int values[2] = {2, 1};
  qsort(values, 2, sizeof values[0], compare_reading);
  sender.join();
  close(fds[0]);
  close(fds[1]);
  EXPECT_EQ(g_verdict.load(), static_cast<int>(StartPoint::kRefusedWhileBlocked));
}

// SIGUSR2's handler judges from inside itself: a hook there (a handler's malloc) may not
// start a thread; an exit there is "in a handler", over a safe point when the handler
// interrupted program code and over an unsafe one when it interrupted a qsort callback.
TEST_F(ThreadStartPoint, InsideAHandlerAHookMayNotAndAnExitKnowsWhatItInterrupted) {
  std::thread sender = send_when_ready(SIGUSR2, true, [] {});
  spin_until(g_exit_point);
  sender.join();
  EXPECT_EQ(g_here.load(), 0);
  EXPECT_EQ(g_exit_point.load(), static_cast<int>(ExitPoint::kHandlerOverSafe));

  g_here = g_exit_point = -1;
  g_in_state = false;
  g_verdict = 0;  // the comparator waits for g_exit_point only
  sender = send_when_ready(SIGUSR2, true, [] {});
  int values[2] = {2, 1};
  qsort(values, 2, sizeof values[0], compare_spinning);
  sender.join();
  EXPECT_EQ(g_here.load(), 0);
  EXPECT_EQ(g_exit_point.load(), static_cast<int>(ExitPoint::kHandlerOverUnsafe));
}

// An exit inside a handler that interrupted a glibc wrapper blocked in a system call (a
// shell's waitpid, read, pause) is over a safe point: the walk's signal frame holds the
// interrupted registers, which say so. One that interrupted glibc code computing (memchr
// here) is not: the heap or a lock may be mid-update there.
TEST_F(ThreadStartPoint, AnExitInAHandlerOverABlockedGlibcCallIsSafeButNotOverGlibcComputing) {
  block_in_read_until_answered(SIGUSR2, g_exit_point);
  EXPECT_EQ(g_exit_point.load(), static_cast<int>(ExitPoint::kHandlerOverSafe));

  // Inside memchr over 16 MiB (milliseconds each): the handler keeps a verdict only when the
  // signal landed in libc (most of the time), and the sender sends again until it has one.
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = [](int, siginfo_t*, void* uc) {
    auto rip = static_cast<uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
    if (rip - g_libc_lo >= g_libc_hi - g_libc_lo) return;
    g_exit_point = static_cast<int>(where_exit_runs());
  };
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigaction(SIGUSR2, &sa, &old);
  g_exit_point = -1;
  std::vector<char> big(16 << 20, 'a');
  pthread_t target = pthread_self();
  std::atomic<bool> done{false};
  std::thread prodder([&] {
    while (!done.load()) {
      usleep(3000);
      if (g_exit_point.load() < 0) pthread_kill(target, SIGUSR2);
    }
  });
  int found = 0;
  for (int i = 0; i < 100000 && g_exit_point.load() < 0; ++i)
    found += memchr(big.data(), 'b', big.size()) != nullptr;
  done = true;
  prodder.join();
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_EQ(found, 0);
  EXPECT_EQ(g_exit_point.load(), static_cast<int>(ExitPoint::kHandlerOverUnsafe));
}

TEST_F(ThreadStartPoint, OutsideAHandlerAHookMayAndAnExitIsNormal) {
  EXPECT_TRUE(may_start_thread_here());
  EXPECT_EQ(where_exit_runs(), ExitPoint::kNormal);
}

// An allocator entry point on the stack (the program's own malloc here) is refused like
// the agent's code: the heap may be half-updated there.
__attribute__((noinline)) bool judged_inside_an_allocator() {
  bool here = may_start_thread_here();
  asm volatile("" ::: "memory");
  return here;
}

TEST_F(ThreadStartPoint, AnAllocatorEntryPointOnTheStackIsRefused) {
  EXPECT_TRUE(judged_inside_an_allocator());
  const void* entries[] = {reinterpret_cast<const void*>(&judged_inside_an_allocator)};
  note_allocator_entry_points(entries, 1);
  EXPECT_FALSE(judged_inside_an_allocator());
  note_allocator_entry_points(entries, 0);
  EXPECT_TRUE(judged_inside_an_allocator());
}

}  // namespace
}  // namespace profagent
