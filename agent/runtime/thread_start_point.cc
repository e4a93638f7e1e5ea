// SIGNAL/HOOK CONTEXT: the rule of thread_start_point.h. No locks, no allocation, no
// descriptors; errno preserved (the walks keep it). Stack: a 128-frame array and a walk
// (~2.5 KiB), and kRoomToStartThread left for pthread_create.
#include "agent/runtime/thread_start_point.h"

#include <gnu/libc-version.h>
#include <signal.h>
#include <ucontext.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#include "agent/runtime/signal_stack_room.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"

extern "C" void* __tls_get_addr(void*);  // the dynamic loader's (ld-linux-x86-64.so.2)

namespace profagent {
namespace {

// One code address inside glibc and one inside the dynamic loader.
std::atomic<uintptr_t> g_libc_code{0};
std::atomic<uintptr_t> g_loader_code{0};

// Frames the rule looks at; a deeper stack is refused (its bottom unseen).
constexpr int kMaxFramesLooked = 128;
// glibc's start routines under the program's frames (__libc_start_call_main and
// __libc_start_main_impl; start_thread and clone3).
constexpr int kMaxStartRoutines = 3;

enum class Owner { kProgram, kLibc, kLoader, kAgent };

class Owners {
 public:
  // False when the tables are not there yet (nothing can be told apart).
  bool load() noexcept {
    set_ = unwind_modules();
    if (set_ == nullptr) return false;
    libc_base_ = base_of(g_libc_code.load());
    loader_base_ = base_of(g_loader_code.load());
    return libc_base_ != 0 && loader_base_ != 0;
  }

  Owner of(uintptr_t pc) const noexcept {
    if (is_agent_pc(pc)) return Owner::kAgent;
    const UnwindModule* m = find_unwind_module(set_, pc);
    if (m == nullptr) return Owner::kProgram;  // code in no object (JIT): the program's
    if (m->base == libc_base_) return Owner::kLibc;
    if (m->base == loader_base_) return Owner::kLoader;
    return Owner::kProgram;
  }

 private:
  uintptr_t base_of(uintptr_t pc) const noexcept {
    const UnwindModule* m = pc != 0 ? find_unwind_module(set_, pc) : nullptr;
    return m != nullptr ? m->base : 0;
  }

  const UnwindModuleSet* set_ = nullptr;
  uintptr_t libc_base_ = 0, loader_base_ = 0;
};

// frames[0..n) is [glibc chain at the top, if allowed] [program frames] [glibc's start
// routines] [_start?] and nothing else.
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
  if (i < n && owners.of(frames[i]) == Owner::kProgram) ++i;  // _start
  return i == n;
}

// The interrupted thread was blocked in a system call: the kernel either returned EINTR
// (RIP right after the `syscall` instruction) or rewound RIP onto it to restart the call
// after the handler (SA_RESTART).
bool blocked_in_system_call(const ucontext_t* uc) noexcept {
  const auto rip = static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  const auto rax = static_cast<int64_t>(uc->uc_mcontext.gregs[REG_RAX]);
  const auto* at = reinterpret_cast<const unsigned char*>(rip);  // glibc's code: mapped
  if (at[0] == 0x0f && at[1] == 0x05) return true;
  return rax == -EINTR && at[-2] == 0x0f && at[-1] == 0x05;
}

bool room_for_thread_start() noexcept {
  StackRoom room = current_stack_room();
  return room.where != StackRoom::kUnknown && room.bytes >= kRoomToStartThread;
}

// The agent's own frames at the top of a walk from here (this file, the hook).
int leading_agent_frames(const Owners& owners, const uintptr_t* pcs, int n) noexcept {
  int i = 0;
  while (i < n && owners.of(pcs[i]) == Owner::kAgent) ++i;
  return i;
}

}  // namespace

void remember_libc_and_loader_code() noexcept {
  g_libc_code.store(reinterpret_cast<uintptr_t>(&gnu_get_libc_version));
  g_loader_code.store(reinterpret_cast<uintptr_t>(&__tls_get_addr));
}

bool may_start_thread_at(const void* ucontext) noexcept {
  Owners owners;
  if (ucontext == nullptr || !room_for_thread_start() || !owners.load()) return false;
  uintptr_t pcs[kMaxFramesLooked];
  const int n = unwind_every_frame_from_signal(const_cast<void*>(ucontext), pcs,
                                               kMaxFramesLooked);
  if (n <= 0 || n >= kMaxFramesLooked) return false;  // nothing, or the bottom unseen
  // A leaf inside glibc is accepted only blocked in a system call.
  bool libc_leaf = owners.of(pcs[0]) == Owner::kLibc;
  if (libc_leaf && !blocked_in_system_call(static_cast<const ucontext_t*>(ucontext)))
    return false;
  return program_over_start_routines(owners, pcs, n, libc_leaf);
}

bool may_start_thread_here() noexcept {
  Owners owners;
  if (!room_for_thread_start() || !owners.load()) return false;
  uintptr_t pcs[kMaxFramesLooked];
  const int n = unwind_every_frame_from_here(pcs, kMaxFramesLooked);
  if (n <= 0 || n >= kMaxFramesLooked) return false;
  const int top = leading_agent_frames(owners, pcs, n);
  return program_over_start_routines(owners, pcs + top, n - top, /*libc_chain_on_top=*/true);
}

ExitPoint where_exit_runs() noexcept {
  Owners owners;
  if (!owners.load()) return ExitPoint::kNormal;  // (no tables: nothing was sampled either)
  uintptr_t pcs[kMaxFramesLooked];
  const int n = unwind_every_frame_from_here(pcs, kMaxFramesLooked);
  for (int i = leading_agent_frames(owners, pcs, n); i < n; ++i) {
    if (!is_signal_return_frame(pcs[i])) continue;
    // In a handler: what it interrupted must be program code over the start routines (a
    // glibc leaf is refused: whether it was blocked in a system call is not known here).
    const int below = i + 1;
    if (n < kMaxFramesLooked && room_for_thread_start() &&
        program_over_start_routines(owners, pcs + below, n - below, /*libc_chain_on_top=*/false))
      return ExitPoint::kHandlerOverSafe;
    return ExitPoint::kHandlerOverUnsafe;
  }
  return ExitPoint::kNormal;
}

}  // namespace profagent
