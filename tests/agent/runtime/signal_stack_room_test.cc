// The room the agent's code has left where it runs (agent/runtime/signal_stack_room.h): a
// handler on an alternate signal stack (also one SS_AUTODISARM hides from the ucontext), a
// thread's own stack; unwind_from_signal keeping to the interrupted PC and a hook walk giving
// up where the room is too small; the agent's SIGPROF held while a hook samples there.
#include "agent/runtime/signal_stack_room.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>

#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwinder.h"

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)  // linux/signal.h
#endif

namespace profagent {
namespace {

size_t g_room = 0;
int g_depth = -1;
uintptr_t g_pcs[kMaxFrames];
uintptr_t g_interrupted_pc = 0;

int g_hook_depth = -1;
StackRoom g_current{StackRoom::kUnknown, 0};
bool g_sigprof_held_inside = false;
bool g_sigprof_held_after = true;
bool g_without_tables = false;  // walk as before the first tables

bool sigprof_blocked() {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, nullptr, &now);
  return sigismember(&now, SIGPROF) == 1;
}

void on_signal(int, siginfo_t*, void* uc) {
  g_current = current_stack_room();
  {
    SamplingSignalHeldOnAltstack hold(g_current);
    g_sigprof_held_inside = sigprof_blocked();
  }
  g_sigprof_held_after = sigprof_blocked();
  g_room = signal_stack_room(uc);
  g_depth = g_without_tables ? unwind_from_signal_without_tables(uc, g_pcs, kMaxFrames)
                             : unwind_from_signal(uc, g_pcs, kMaxFrames);
  // As a malloc or lock hook called from a program's handler walks.
  uintptr_t hook_pcs[kMaxFrames];
  g_hook_depth = unwind_from_hook(hook_pcs, kMaxFrames);
  g_interrupted_pc =
      static_cast<uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
}

// Raises SIGUSR1 with the handler SA_ONSTACK on an altstack of `size` bytes (0: none) placed
// right above an inaccessible page, so an overflow would fault here rather than pass unseen.
// `flags`: the altstack's (SS_AUTODISARM), which is also recorded as the sigaltstack hook
// records it in libprofagent.so.
void raise_on_altstack(size_t size, int flags = 0) {
  const size_t page = 4096;
  char* mem = nullptr;
  if (size > 0) {
    size_t span = page + ((size + page - 1) & ~(page - 1));
    mem = static_cast<char*>(
        mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    mprotect(mem, page, PROT_NONE);
    stack_t ss;
    ss.ss_sp = mem + page;
    ss.ss_size = size;
    ss.ss_flags = flags;
    ASSERT_EQ(sigaltstack(&ss, nullptr), 0);
    note_current_altstack(ss);
  }
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGUSR1, &sa, &old);
  g_depth = -1;
  raise(SIGUSR1);
  sigaction(SIGUSR1, &old, nullptr);
  if (size > 0) {
    stack_t off;
    memset(&off, 0, sizeof off);
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    note_current_altstack(off);
    munmap(mem, page + ((size + page - 1) & ~(page - 1)));
  }
}

TEST(SignalStackRoom, MeasuresTheAltstackLeftAndIsUnboundedElsewhere) {
  raise_on_altstack(0);
  EXPECT_EQ(g_room, SIZE_MAX);
  raise_on_altstack(64 * 1024);
  EXPECT_LT(g_room, 64u * 1024);
  EXPECT_GT(g_room, 64u * 1024 - 8 * 1024);  // the kernel's frame (3-4 KiB) and the handler's
  raise_on_altstack(16 * 1024);
  EXPECT_LT(g_room, 16u * 1024);
  EXPECT_GT(g_room, 8u * 1024);
}

// With room, the walk goes past the handler's frame into the code that raised the signal;
// on a 4 KiB altstack (the kernel's frame takes most of it) it returns the interrupted PC
// alone, and the handler survives (a walk there overflowed into the page below). A hook's
// walk (a program handler that calls malloc there) gives up instead: that sample is lost.
TEST(SignalStackRoom, UnwindFromSignalKeepsToThePcWithoutRoom) {
  note_current_thread_stack();
  unwind_tables_refresh();
  ASSERT_TRUE(wait_for_unwind_tables(2000 * 1000000LL));
  raise_on_altstack(64 * 1024);
  EXPECT_GT(g_depth, 2);
  EXPECT_GT(g_hook_depth, 2);
  // The kernel's frame takes about AT_MINSIGSTKSZ (with this CPU's vector state): 1 KiB
  // more leaves the handler less than a walk needs, on any CPU.
  raise_on_altstack(getauxval(AT_MINSIGSTKSZ) + 1024);
  EXPECT_LT(g_room, kRoomForWalk);
  ASSERT_EQ(g_depth, 1);
  EXPECT_EQ(g_pcs[0], g_interrupted_pc);
  EXPECT_EQ(g_hook_depth, 0);
}

// The walk before the first tables (rules read from .eh_frame) needs more stack: on
// altstacks whose room left goes from below kRoomForWalkWithoutTables to above it, it walks
// only with that room, and never overflows into the inaccessible page under the altstack.
TEST(SignalStackRoom, WalkWithoutTablesFitsTheRoomItAsksFor) {
  note_current_thread_stack();
  const size_t base = getauxval(AT_MINSIGSTKSZ);
  int walked = 0, refused = 0;
  g_without_tables = true;
  for (size_t extra = 1024; extra <= 8192; extra += 256) {
    raise_on_altstack(base + extra);
    // (The walk measures its room from its own frame, a little below this handler's.)
    if (g_depth > 0) {
      EXPECT_GE(g_room, kRoomForWalkWithoutTables);
      EXPECT_GT(g_depth, 2) << "room " << g_room;
      ++walked;
    } else {
      EXPECT_LT(g_room, kRoomForWalkWithoutTables + 256) << "refused with room";
      ++refused;
    }
  }
  g_without_tables = false;
  EXPECT_GT(walked, 0);
  EXPECT_GT(refused, 0);
}

}  // namespace
// On a thread's own stack the room is what is left down to its recorded bottom and the
// agent's SIGPROF is left alone; on an altstack it is the altstack's, SIGPROF held for the
// scope and given back after.
TEST(SignalStackRoom, CurrentRoomTellsTheThreadStackFromTheAltstack) {
  note_current_thread_stack();
  StackRoom here = current_stack_room();
  EXPECT_EQ(here.where, StackRoom::kThreadStack);
  EXPECT_GT(here.bytes, 64u * 1024);
  {
    SamplingSignalHeldOnAltstack hold(here);
    EXPECT_FALSE(sigprof_blocked());
  }
  raise_on_altstack(16 * 1024);
  EXPECT_EQ(g_current.where, StackRoom::kAltStack);
  EXPECT_LT(g_current.bytes, 16u * 1024);
  EXPECT_GT(g_current.bytes, 8u * 1024);
  EXPECT_TRUE(g_sigprof_held_inside);
  EXPECT_FALSE(g_sigprof_held_after);
}

// SS_AUTODISARM: the kernel clears the thread's altstack while the handler runs on it, so
// the ucontext says "none"; the recorded altstack still gives the room (a CPU sample nested
// in such a handler walked in full and overflowed it).
TEST(SignalStackRoom, AnAutodisarmedAltstackIsStillMeasured) {
  raise_on_altstack(16 * 1024, static_cast<int>(SS_AUTODISARM));
  EXPECT_LT(g_room, 16u * 1024);
  EXPECT_GT(g_room, 8u * 1024);
  EXPECT_EQ(g_current.where, StackRoom::kAltStack);
  EXPECT_LT(g_current.bytes, 16u * 1024);
}

}  // namespace profagent
