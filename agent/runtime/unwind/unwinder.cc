// The agent's stack capture entry points over its own unwind tables (stack_walk.h,
// unwind_tables.h). SIGNAL/HOOK CONTEXT: unwind_from_signal, unwind_from_hook,
// unwind_thread_from_registers and is_agent_pc are async-signal-safe (no locks, no
// allocation, no descriptors; errno preserved). unwinder_init runs in normal context. Until the
// dump thread's first unwind_tables_refresh a walk reads each PC's rule from its object's
// .eh_frame (fde_lookup.h).
#include "agent/runtime/unwind/unwinder.h"

#include <errno.h>
#include <link.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent/core/clock.h"
#include "agent/core/fork_gate.h"
#include "agent/core/wakeup.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/signal_stack_room.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/runtime/unwind/stack_walk.h"
#include "agent/runtime/unwind/thread_cache_slots.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/core/code_layout.h"

#include <atomic>
#include <cstring>

namespace profagent {
namespace {

class ErrnoKeeper {
 public:
  ErrnoKeeper() noexcept : saved_(errno) {}
  ~ErrnoKeeper() { errno = saved_; }

 private:
  int saved_;
};

// Executable segments of one object (libprofagent.so, found once at init; libc).
constexpr int kMaxAgentRanges = 4;
struct Range {
  uintptr_t lo, hi;
};
struct RangeSet {
  Range ranges[kMaxAgentRanges] = {};
  std::atomic<int> count{0};
  bool only_shared_object = false;  // skip (leave empty) if the object is the executable

  bool contains(uintptr_t pc) const noexcept {
    int n = count.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i)
      if (pc >= ranges[i].lo && pc < ranges[i].hi) return true;
    return false;
  }
};

// constinit: filled by unwinder_init() from the agent's constructor, which runs before this
// library's dynamic initializers (agent/constructor.cc); a dynamic initializer would reset them.
constinit RangeSet g_agent_code;  // libprofagent.so itself (empty when linked into a test)
constinit RangeSet g_libc_code;   // libc, found at the first is_libc_pc()

struct RangeQuery {
  uintptr_t probe;
  RangeSet* out;
};

// dl_iterate_phdr callback: stores the executable segments of the object that contains
// query->probe in query->out.
PROFAGENT_START_PATH int find_ranges(dl_phdr_info* info, size_t, void* data) {
  auto* query = static_cast<RangeQuery*>(data);
  Range found_ranges[kMaxAgentRanges];
  int found = 0;
  bool contains_probe = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    uintptr_t hi = lo + ph.p_memsz;
    if (query->probe >= lo && query->probe < hi) contains_probe = true;
    if (found < kMaxAgentRanges) found_ranges[found++] = {lo, hi};
  }
  if (!contains_probe) return 0;
  // Only the injected object is "agent code", whatever its file is called (a copy renamed
  // agent.so is the agent too); linked into a test executable, the same functions are
  // ordinary program code. (The executable is the object whose program headers the kernel
  // named in AT_PHDR; its loader name is "" unless it was started as `ld.so ./prog`.)
  if (query->out->only_shared_object &&
      reinterpret_cast<uintptr_t>(info->dlpi_phdr) == getauxval(AT_PHDR))
    return 1;
  for (int i = 0; i < found; ++i) query->out->ranges[i] = found_ranges[i];
  query->out->count.store(found, std::memory_order_release);
  return 1;
}

void find_code_of(const void* probe, RangeSet* out) {
  if (out->count.load() != 0) return;
  RangeQuery query{reinterpret_cast<uintptr_t>(probe), out};
  ForkGateSection gate;  // the loader's lock is held meanwhile (fork_gate.h)
  dl_iterate_phdr(find_ranges, &query);
}

// Set by the first hook walk made before the first tables (it wakes the dump thread).
std::atomic<bool> g_asked_for_tables{false};

// Whether a walk has its tables: the published set, or the cached tables the start deferred,
// mapped now (deferred_tables.h: a process that never walks maps none) when the stack the
// caller runs on has `room` for a walk (the mapping needs less).
PROFAGENT_SAMPLE_PATH bool tables_for_walk(size_t room) noexcept {
  if (unwind_modules() != nullptr) return true;
  return room >= kRoomForWalk && map_deferred_unwind_tables();
}

}  // namespace

PROFAGENT_SAMPLE_PATH bool unwind_tables_for_walk(size_t room) noexcept {
  return tables_for_walk(room);
}

bool wait_for_unwind_tables(int64_t timeout_nanos) noexcept {
  if (tables_for_walk(known_stack_room())) return true;
  want_unwind_tables();  // before the wake-up: the dump thread looks at it before sleeping
  wake_dump_thread();
  return wait_for_first_unwind_tables(monotonic_nanos() + timeout_nanos);
}

PROFAGENT_SAMPLE_PATH bool is_agent_pc(uintptr_t pc) noexcept { return g_agent_code.contains(pc); }

bool is_libc_pc(uintptr_t pc) noexcept {
  find_code_of(reinterpret_cast<const void*>(&getpid), &g_libc_code);  // (once)
  return g_libc_code.contains(pc);
}

int first_frame_below_agent_handler(const uintptr_t* pcs, int depth) noexcept {
  bool in_agent = false;
  for (int i = 0; i < depth; ++i) {
    if (is_agent_pc(pcs[i])) in_agent = true;
    else if (in_agent && is_signal_return_frame(pcs[i])) return i + 1;
  }
  return 0;
}

PROFAGENT_START_PATH
void unwinder_init() noexcept {
  g_agent_code.only_shared_object = true;
  find_code_of(reinterpret_cast<const void*>(&unwinder_init), &g_agent_code);
  note_current_thread_stack();
}

PROFAGENT_FORK_PATH void unwinder_after_fork_child() noexcept { unwind_tables_after_fork_child(); }

void unwinder_thread_exiting() noexcept { release_thread_cache_slot(); }

namespace {

// The walk itself, out of line: its frame (the 512-byte read window) is only entered when
// the stack has room for it.
PROFAGENT_SAMPLE_PATH __attribute__((noinline)) int walk_from_signal(const WalkRegs& regs,
                                                                  uintptr_t* pcs,
                                                                  int max_frames,
                                                                  bool skip_agent,
                                                                  bool without_tables) noexcept {
  LocalStackMemory mem(regs.sp);
  WalkOptions opt;
  opt.first_exact = true;
  opt.prefetch_stack = true;
  opt.skip_agent = skip_agent;  // agent trampolines never show in a sample's stack
  opt.without_tables = without_tables;
  return walk_stack(regs, mem, opt, pcs, max_frames);
}

WalkRegs interrupted_registers(const void* ucontext) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  return WalkRegs{static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]),
                  static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]),
                  static_cast<uintptr_t>(uc->uc_mcontext.gregs[REG_RBP])};
}

}  // namespace

PROFAGENT_SAMPLE_PATH
int unwind_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept {
  if (ucontext == nullptr || max_frames <= 0) return 0;
  ErrnoKeeper keep_errno;
  const WalkRegs regs = interrupted_registers(ucontext);
  // Before the dump thread's first load of the tables (2 ms after the agent starts, or at
  // once when woken: the CPU handler's tick request wakes it; tens of ms when the machine is
  // loaded) the walk reads each PC's rule from its object's .eh_frame (fde_lookup.h), which
  // takes more stack. On an alternate signal stack too small for the walk the sample keeps
  // the function it interrupted, without guessing its callers.
  const size_t room = signal_stack_room(ucontext);
  const bool tables = tables_for_walk(room);
  if (room < (tables ? kRoomForWalk : kRoomForWalkWithoutTables)) {
    if (is_agent_pc(regs.pc)) return 0;
    pcs[0] = regs.pc;
    return 1;
  }
  return walk_from_signal(regs, pcs, max_frames, /*skip_agent=*/true, /*without_tables=*/false);
}

int unwind_from_signal_without_tables(void* ucontext, uintptr_t* pcs, int max_frames) noexcept {
  if (ucontext == nullptr || max_frames <= 0) return 0;
  ErrnoKeeper keep_errno;
  if (signal_stack_room(ucontext) < kRoomForWalkWithoutTables) return 0;
  return walk_from_signal(interrupted_registers(ucontext), pcs, max_frames, /*skip_agent=*/true,
                          /*without_tables=*/true);
}

PROFAGENT_START_PATH
int unwind_every_frame_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept {
  if (ucontext == nullptr || max_frames <= 0) return 0;
  ErrnoKeeper keep_errno;
  const size_t room = signal_stack_room(ucontext);
  if (room < kRoomForWalk || !tables_for_walk(room)) return 0;
  return walk_from_signal(interrupted_registers(ucontext), pcs, max_frames,
                          /*skip_agent=*/false, /*without_tables=*/false);
}

namespace {

// The hook walk itself, out of line (its frame holds the read window), from its own frame.
PROFAGENT_SAMPLE_PATH __attribute__((noinline)) int walk_from_hook(
    uintptr_t* pcs, int max_frames, bool skip_agent, uintptr_t* first_ucontext = nullptr) noexcept {
  WalkRegs regs;
  asm volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
               : "=r"(regs.pc), "=r"(regs.sp), "=r"(regs.bp));
  LocalStackMemory mem(regs.sp);
  WalkOptions opt;
  opt.first_exact = true;
  opt.skip_agent = skip_agent;  // this function and the hook that called it
  opt.first_ucontext = first_ucontext;
  return walk_stack(regs, mem, opt, pcs, max_frames);
}

}  // namespace

PROFAGENT_SAMPLE_PATH __attribute__((noinline)) int unwind_from_hook(uintptr_t* pcs,
                                                                int max_frames) noexcept {
  if (max_frames <= 0) return 0;
  ErrnoKeeper keep_errno;
  // Before the first tables the walk reads each rule from its object's .eh_frame: the
  // program's first allocations and locks keep their stacks without waiting for the dump
  // thread, which the first such walk asks to build them at once (as a CPU sample does).
  // With too little stack for the walk the sample is lost.
  const bool without_tables = !tables_for_walk(known_stack_room());
  if (without_tables && !g_asked_for_tables.exchange(true, std::memory_order_relaxed)) {
    want_unwind_tables();  // before the wake-up: the dump thread looks at it before sleeping
    wake_dump_thread();
  }
  const size_t need = without_tables ? kRoomForWalkWithoutTables : kRoomForWalk;
  if (current_stack_room().bytes < need) return 0;
  return walk_from_hook(pcs, max_frames, /*skip_agent=*/true);
}

int unwind_every_frame_from_here(uintptr_t* pcs, int max_frames,
                                 uintptr_t* first_ucontext) noexcept {
  if (first_ucontext != nullptr) *first_ucontext = 0;
  if (max_frames <= 0) return 0;
  ErrnoKeeper keep_errno;
  if (current_stack_room().bytes < kRoomForWalk || !tables_for_walk(known_stack_room())) return 0;
  return walk_from_hook(pcs, max_frames, /*skip_agent=*/false, first_ucontext);
}

int unwind_thread_from_registers(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t* pcs,
                                 int max_frames) noexcept {
  if (max_frames <= 0 || !tables_for_walk(known_stack_room())) return 0;  // before the first tables
  ErrnoKeeper keep_errno;
  ProcessVmMemory mem;
  WalkOptions opt;
  opt.first_exact = true;
  opt.skip_agent = false;
  opt.bp_unknown = true;
  return walk_stack(WalkRegs{pc, sp, bp}, mem, opt, pcs, max_frames);
}

}  // namespace profagent
