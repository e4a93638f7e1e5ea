// SIGNAL/HOOK CONTEXT: the rule of thread_start_point.h. No locks, no allocation, no
// descriptors; errno preserved (the walks keep it). The walk writes into one static buffer
// of 1,024 frames (the process has one thread whenever this runs; a nested use is refused),
// and kRoomToStartThread must be left on the stack for pthread_create.
#include "agent/runtime/thread_start_point.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

#include "agent/runtime/signal_stack_room.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/stack_walk.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/core/code_layout.h"
#include "agent/core/next_symbol.h"
#include "agent/core/large_bss.h"

extern "C" void* __tls_get_addr(void*);  // the dynamic loader's (ld-linux-x86-64.so.2)

namespace profagent {
namespace {

// One code address inside glibc, the dynamic loader and the main executable, and the malloc
// the program's calls reach when it is none of glibc's and the agent's (an allocator linked
// into the executable, or a library of its own ahead of the agent).
std::atomic<uintptr_t> g_libc_code{0};
std::atomic<uintptr_t> g_loader_code{0};
std::atomic<uintptr_t> g_main_code{0};
std::atomic<uintptr_t> g_program_malloc{0};
std::atomic<bool> g_program_malloc_in_main{false};  // it lies in the executable

constexpr int kMaxAllocatorEntries = 12;
std::atomic<uintptr_t> g_allocator_entries[kMaxAllocatorEntries];
std::atomic<int> g_allocator_entry_count{0};

// The frames of one walk; the process has a single thread whenever the rule runs, and a
// signal nested in a use (the CPU handler's offer inside a termination handler's) is
// refused rather than sharing it.
constexpr int kMaxFramesLooked = 1024;
PROFAGENT_LARGE_BSS uintptr_t g_frames[kMaxFramesLooked];
std::atomic<bool> g_frames_busy{false};

class FrameBuffer {
 public:
  FrameBuffer() noexcept : mine_(!g_frames_busy.exchange(true, std::memory_order_acquire)) {}
  ~FrameBuffer() {
    if (mine_) g_frames_busy.store(false, std::memory_order_release);
  }
  bool mine() const noexcept { return mine_; }

 private:
  bool mine_;
};

// glibc's start routines under the program's frames (__libc_start_call_main and
// __libc_start_main_impl; start_thread and clone3).
constexpr int kMaxStartRoutines = 3;

enum class Owner { kProgram, kLibc, kLoader, kAgent, kAllocator };

class Owners {
 public:
  // False when the tables are not there yet (nothing can be told apart).
  // `room`: of the stack the caller runs on (deferred tables are mapped only with a walk's).
  bool load(size_t room) noexcept {
    set_ = unwind_tables_for_walk(room) ? unwind_modules() : nullptr;  // (deferred: mapped now)
    if (set_ == nullptr) return false;
    libc_base_ = base_of(g_libc_code.load());
    loader_base_ = base_of(g_loader_code.load());
    main_base_ = base_of(g_main_code.load());
    // An allocator in a library of its own (libjemalloc, libtcmalloc): all of it. One linked
    // into the executable: its code cannot be told from the program's, so a leaf there is
    // refused (program_leaf_refused).
    uintptr_t allocator = g_program_malloc.load();
    if (allocator == 0 && g_allocator_entry_count.load() > 0) allocator = g_allocator_entries[0].load();
    allocator_base_ = base_of(allocator);
    allocator_in_main_ = allocator_base_ != 0 && allocator_base_ == main_base_;
    if (allocator_base_ == libc_base_ || allocator_base_ == main_base_) allocator_base_ = 0;
    return libc_base_ != 0 && loader_base_ != 0;
  }

  bool allocator_in_main() const noexcept { return allocator_in_main_; }

  // A leaf in the executable that holds the program's own allocator may be inside it.
  bool program_leaf_refused(uintptr_t leaf) const noexcept {
    if (!allocator_in_main_) return false;
    const UnwindModule* m = find_unwind_module(set_, leaf);
    return m != nullptr && m->base == main_base_;
  }

  Owner of(uintptr_t pc) const noexcept {
    if (is_agent_pc(pc)) return Owner::kAgent;
    const UnwindModule* m = find_unwind_module(set_, pc);
    if (m == nullptr) return Owner::kProgram;  // code in no object (JIT): the program's
    if (m->base == loader_base_) return Owner::kLoader;
    if (allocator_base_ != 0 && m->base == allocator_base_) return Owner::kAllocator;
    if (is_allocator_entry(pc)) return Owner::kAllocator;
    if (m->base == libc_base_) return Owner::kLibc;
    return Owner::kProgram;
  }

 private:
  uintptr_t base_of(uintptr_t pc) const noexcept {
    const UnwindModule* m = pc != 0 ? find_unwind_module(set_, pc) : nullptr;
    return m != nullptr ? m->base : 0;
  }

  static bool is_allocator_entry(uintptr_t pc) noexcept {
    const int n = g_allocator_entry_count.load(std::memory_order_acquire);
    if (n == 0) return false;
    const uintptr_t start = function_start_of(pc);
    if (start == 0) return false;
    for (int i = 0; i < n; ++i)
      if (g_allocator_entries[i].load(std::memory_order_relaxed) == start) return true;
    return false;
  }

  const UnwindModuleSet* set_ = nullptr;
  uintptr_t libc_base_ = 0, loader_base_ = 0, main_base_ = 0, allocator_base_ = 0;
  bool allocator_in_main_ = false;
};

// The executable's entry point (_start), the main thread's first frame.
bool is_program_entry(uintptr_t frame) noexcept {
  const uintptr_t entry = g_main_code.load(std::memory_order_relaxed);
  return entry != 0 && function_start_of(frame) == entry;
}

// frames[0..n) is [glibc chain at the top, if allowed] [program frames] [glibc's start
// routines] [_start, exactly, or nothing] and nothing else. (A walk that stopped at a
// program frame without unwind information ends in no start routine, or in a frame that
// is not _start: refused.)
bool program_over_start_routines(const Owners& owners, const uintptr_t* frames, int n,
                                 bool libc_chain_on_top) noexcept {
  int i = 0;
  if (libc_chain_on_top)
    while (i < n && owners.of(frames[i]) == Owner::kLibc) ++i;
  if (i == n || owners.of(frames[i]) != Owner::kProgram) return false;
  while (i < n && owners.of(frames[i]) == Owner::kProgram) ++i;
  int start_routines = 0;
  while (i < n && owners.of(frames[i]) == Owner::kLibc) ++i, ++start_routines;
  if (start_routines == 0 || start_routines > kMaxStartRoutines) return false;
  if (i < n && is_program_entry(frames[i])) ++i;
  return i == n;
}

// The walk went down to the process's or thread's first frame: _start, or the last frame of
// glibc's (a thread's clone3) or the loader's (a library constructor run at start) own
// outermost code, whose unwind information ends the stack. A walk that stopped at a program
// frame other than _start (no unwind information there) did not.
bool reached_bottom(const Owners& owners, const uintptr_t* frames, int n) noexcept {
  if (n <= 0 || n >= kMaxFramesLooked) return false;
  const uintptr_t last = frames[n - 1];
  if (is_program_entry(last)) return true;
  Owner o = owners.of(last);
  return o == Owner::kLibc || o == Owner::kLoader;
}

// A signal frame's first word is the return into glibc's __restore_rt, the restorer every
// handler glibc installs gets (read back from the kernel for SIGPROF, which the agent's
// dispatcher holds), followed by the ucontext the kernel saved. Scanning the live part of
// this thread's stack for that word tells a handler from normal code where the walk could
// not (a handler without unwind information). A word found there may also be stale (an
// earlier signal's frame in a slot no live frame wrote), so what its ucontext says was
// interrupted decides: program code is safe to dump over either way; glibc, the loader, an
// allocator or the agent is not.
enum class StackScan { kNoHandler, kHandlerOverProgram, kHandlerOverOther, kCannotTell };

StackScan scan_stack_for_handlers(const Owners& owners) noexcept {
  struct KernelSigaction {
    void* handler;
    unsigned long flags;
    void* restorer;
    uint64_t mask;
  } current{};
  if (syscall(SYS_rt_sigaction, SIGPROF, nullptr, &current, sizeof(uint64_t)) != 0 ||
      current.restorer == nullptr)
    return StackScan::kCannotTell;
  uintptr_t lo, hi;
  if (!current_thread_stack(&lo, &hi)) return StackScan::kCannotTell;
  uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  if (here < lo || here >= hi) return StackScan::kCannotTell;  // not on its own stack
  const auto restorer = reinterpret_cast<uintptr_t>(current.restorer);
  constexpr size_t kRipOffset =
      sizeof(uintptr_t) + offsetof(ucontext_t, uc_mcontext.gregs) + REG_RIP * sizeof(greg_t);
  StackScan found = StackScan::kNoHandler;
  for (uintptr_t a = here & ~uintptr_t{7}; a + sizeof(uintptr_t) <= hi; a += sizeof(uintptr_t)) {
    if (*reinterpret_cast<const uintptr_t*>(a) != restorer) continue;
    if (a + kRipOffset + sizeof(uintptr_t) > hi) return StackScan::kHandlerOverOther;
    const uintptr_t rip = *reinterpret_cast<const uintptr_t*>(a + kRipOffset);
    if (owners.of(rip) != Owner::kProgram || owners.program_leaf_refused(rip))
      return StackScan::kHandlerOverOther;
    found = StackScan::kHandlerOverProgram;
  }
  return found;
}

// System calls a thread blocks in without holding any of glibc's state: a restarted one
// (the kernel rewound RIP onto `syscall`, RAX again the number) counts as blocked only if it
// is one of these; a thread about to make the call looks the same, and the allocator's own
// calls (brk, mmap, munmap, madvise, mprotect, mremap) must not pass.
bool blocking_call(long nr) noexcept {
  switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64:
    case SYS_pwrite64: case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
    case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_nanosleep: case SYS_clock_nanosleep:
    case SYS_pause: case SYS_rt_sigsuspend: case SYS_rt_sigtimedwait: case SYS_wait4:
    case SYS_waitid: case SYS_accept: case SYS_accept4: case SYS_connect: case SYS_recvfrom:
    case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg: case SYS_flock: case SYS_msgrcv:
    case SYS_msgsnd: case SYS_semop: case SYS_semtimedop: case SYS_openat: case SYS_futex:
      return true;
    default:
      return false;
  }
}

// The interrupted thread was blocked in a system call: the kernel returned EINTR (RIP right
// after the `syscall` instruction), or rewound RIP onto it to restart a blocking call after
// the handler (SA_RESTART).
bool blocked_in_system_call(const ucontext_t* uc) noexcept {
  const auto rip = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto rax = static_cast<int64_t>(uc->uc_mcontext.gregs[REG_RAX]);
  const auto* at = reinterpret_cast<const unsigned char*>(rip);  // glibc's code: mapped
  if (rax == -EINTR && at[-2] == 0x0f && at[-1] == 0x05) return true;
  return at[0] == 0x0f && at[1] == 0x05 && blocking_call(static_cast<long>(rax));
}

bool room_for_thread_start() noexcept { return known_stack_room() >= kRoomToStartThread; }

// The agent's own frames at the top of a walk from here (this file, the hook).
int leading_agent_frames(const Owners& owners, const uintptr_t* pcs, int n) noexcept {
  int i = 0;
  while (i < n && owners.of(pcs[i]) == Owner::kAgent) ++i;
  return i;
}

}  // namespace

PROFAGENT_START_PATH
void remember_libc_and_loader_code() noexcept {
  g_libc_code.store(reinterpret_cast<uintptr_t>(&gnu_get_libc_version));
  g_loader_code.store(reinterpret_cast<uintptr_t>(&__tls_get_addr));
  g_main_code.store(static_cast<uintptr_t>(getauxval(AT_ENTRY)));
  // The malloc the program's own calls reach (the first in the global scope): when it is
  // neither the agent's hook nor glibc's, the program brought its own allocator.
  // (_dl_find_object, not dladdr: dladdr also looks for the nearest symbol, a scan of libc's
  // whole symbol table that cost every process start ~14 us on this VM.)
  dl_find_object self, mine, glibc, main;
  void* first = first_symbol("malloc");
  if (first != nullptr &&
      _dl_find_object(reinterpret_cast<void*>(&remember_libc_and_loader_code), &self) == 0 &&
      _dl_find_object(first, &mine) == 0 &&
      _dl_find_object(reinterpret_cast<void*>(&gnu_get_libc_version), &glibc) == 0 &&
      mine.dlfo_link_map != self.dlfo_link_map && mine.dlfo_link_map != glibc.dlfo_link_map) {
    g_program_malloc.store(reinterpret_cast<uintptr_t>(first));
    g_program_malloc_in_main.store(
        _dl_find_object(reinterpret_cast<void*>(g_main_code.load()), &main) == 0 &&
        main.dlfo_link_map == mine.dlfo_link_map);
  }
}

PROFAGENT_START_PATH
bool program_allocator_in_executable() noexcept { return g_program_malloc_in_main.load(); }

PROFAGENT_START_PATH
void note_allocator_entry_points(const void* const* entries, int count) noexcept {
  int n = 0;
  for (int i = 0; i < count && n < kMaxAllocatorEntries; ++i)
    if (entries[i] != nullptr)
      g_allocator_entries[n++].store(reinterpret_cast<uintptr_t>(entries[i]),
                                     std::memory_order_relaxed);
  g_allocator_entry_count.store(n, std::memory_order_release);
}

PROFAGENT_START_PATH StartPoint may_start_thread_at(const void* ucontext) noexcept {
  Owners owners;
  FrameBuffer buffer;
  if (ucontext == nullptr || !buffer.mine() || !room_for_thread_start() ||
      !owners.load(known_stack_room()))
    return StartPoint::kRefused;
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  const bool blocked = blocked_in_system_call(uc);
  const StartPoint refused = blocked ? StartPoint::kRefusedWhileBlocked : StartPoint::kRefused;
  const int n = unwind_every_frame_from_signal(const_cast<void*>(ucontext), g_frames,
                                               kMaxFramesLooked);
  if (n <= 0 || n >= kMaxFramesLooked) return refused;  // nothing, or the bottom unseen
  // A leaf inside glibc is accepted only blocked in a system call; one in an executable
  // with its own allocator not at all (it may be inside that allocator).
  const bool libc_leaf = owners.of(g_frames[0]) == Owner::kLibc;
  if (libc_leaf && !blocked) return StartPoint::kRefused;
  if (owners.program_leaf_refused(g_frames[0])) return StartPoint::kRefused;
  return program_over_start_routines(owners, g_frames, n, libc_leaf) ? StartPoint::kAccepted
                                                                      : refused;
}

bool may_start_thread_here() noexcept {
  Owners owners;
  FrameBuffer buffer;
  if (!buffer.mine() || !room_for_thread_start() || !owners.load(known_stack_room()))
    return false;
  // A hook's caller in an executable with its own allocator may be that allocator, holding
  // its lock (a sigaction call from its lazy set-up): refused, as such a leaf is.
  if (owners.allocator_in_main()) return false;
  const int n = unwind_every_frame_from_here(g_frames, kMaxFramesLooked);
  if (n <= 0 || n >= kMaxFramesLooked) return false;
  const int top = leading_agent_frames(owners, g_frames, n);
  return program_over_start_routines(owners, g_frames + top, n - top,
                                     /*libc_chain_on_top=*/true);
}

ExitPoint where_exit_runs() noexcept {
  Owners owners;
  // No tables: nothing was sampled either, unless the start deferred cached ones that are
  // not mapped (deferred_tables.h: a failed or unfinished mapping, too little stack here):
  // the walk that would tell cannot be made.
  if (!owners.load(known_stack_room()))
    return deferred_unwind_tables_unpublished() ? ExitPoint::kUnknown : ExitPoint::kNormal;
  FrameBuffer buffer;
  if (!buffer.mine()) return ExitPoint::kUnknown;
  uintptr_t ucontext = 0;  // the first signal frame's, from the walk
  const int n = unwind_every_frame_from_here(g_frames, kMaxFramesLooked, &ucontext);
  for (int i = leading_agent_frames(owners, g_frames, n); i < n; ++i) {
    if (!is_signal_return_frame(g_frames[i])) continue;
    // In a handler: what it interrupted must be program code over the start routines, or a
    // glibc leaf blocked in a system call (read, waitpid, pause: its ucontext tells), as for
    // a signal's point (may_start_thread_at).
    const int below = i + 1;
    const bool libc_leaf = below < n && owners.of(g_frames[below]) == Owner::kLibc;
    if (libc_leaf &&
        (ucontext == 0 || !blocked_in_system_call(reinterpret_cast<const ucontext_t*>(ucontext))))
      return ExitPoint::kHandlerOverUnsafe;
    // (A leaf in an executable with its own allocator may be inside it, as for a signal.)
    if (n < kMaxFramesLooked && below < n && room_for_thread_start() &&
        !owners.program_leaf_refused(g_frames[below]) &&
        program_over_start_routines(owners, g_frames + below, n - below, libc_leaf))
      return ExitPoint::kHandlerOverSafe;
    return ExitPoint::kHandlerOverUnsafe;
  }
  if (reached_bottom(owners, g_frames, n)) return ExitPoint::kNormal;
  switch (scan_stack_for_handlers(owners)) {
    case StackScan::kNoHandler:
    case StackScan::kHandlerOverProgram:  // (no allocator or loader state mid-update there)
      return ExitPoint::kNormal;
    case StackScan::kHandlerOverOther:
      return ExitPoint::kHandlerOverUnsafe;
    case StackScan::kCannotTell:
      break;
  }
  return ExitPoint::kUnknown;
}

}  // namespace profagent
