// The walk over the module unwind tables (see stack_walk.h). SIGNAL/HOOK CONTEXT: every
// function here is async-signal-safe; errno is preserved by the public entry points in
// unwinder.cc.
#include "agent/runtime/unwind/stack_walk.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstring>
#include <atomic>
#include <initializer_list>

#include "agent/runtime/unwind/frame_desc.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

bool process_vm_read(int pid, uintptr_t addr, void* out, size_t n, size_t* got) noexcept {
  iovec local{out, n};
  iovec remote{reinterpret_cast<void*>(addr), n};
  long r = syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
  if (r <= 0) return false;
  *got = static_cast<size_t>(r);
  return true;
}

LocalStackMemory::LocalStackMemory(uintptr_t sp) noexcept { select_region(sp); }

void LocalStackMemory::select_region(uintptr_t sp) noexcept {
  uintptr_t lo, hi;
  via_syscall_ = false;
  // A frame's epilogue may still read a slot just below SP (rbp saved at CFA-16 after the
  // CFA moved to SP+8): the red zone's 128 bytes below SP are part of the live stack.
  constexpr uintptr_t kBelowSp = 128;
  if (current_thread_stack(&lo, &hi) && sp >= lo && sp < hi) {
    lo_ = sp - kBelowSp >= lo ? sp - kBelowSp : lo;
    hi_ = hi;
    return;
  }
  stack_t ss;
  if (syscall(SYS_sigaltstack, nullptr, &ss) == 0 && !(ss.ss_flags & SS_DISABLE) &&
      sp >= reinterpret_cast<uintptr_t>(ss.ss_sp) &&
      sp < reinterpret_cast<uintptr_t>(ss.ss_sp) + ss.ss_size) {
    uintptr_t ss_lo = reinterpret_cast<uintptr_t>(ss.ss_sp);
    lo_ = sp - kBelowSp >= ss_lo ? sp - kBelowSp : ss_lo;
    hi_ = ss_lo + ss.ss_size;
    return;
  }
  // A stack we have no bounds for (a thread started by raw clone, a coroutine stack):
  // reads go through process_vm_readv, which fails instead of faulting.
  lo_ = hi_ = 0;
  via_syscall_ = true;
}

bool LocalStackMemory::read_via_syscall(uintptr_t addr, void* out, size_t n) noexcept {
  return fallback_.read(addr, out, n);
}

bool ProcessVmMemory::read(uintptr_t addr, void* out, size_t n) noexcept {
  if (n > kWindow) return false;
  if (!(addr >= base_ && addr - base_ + n <= valid_)) {
    if (pid_ == 0) pid_ = static_cast<int>(syscall(SYS_getpid));
    size_t got = 0;
    // A window that runs into an unmapped page comes back short; that is fine as long as it
    // holds what we need now.
    if (!process_vm_read(pid_, addr, window_, kWindow, &got) || got < n) {
      if (!process_vm_read(pid_, addr, window_, n, &got) || got < n) return false;
    }
    base_ = addr;
    valid_ = got;
  }
  memcpy(out, window_ + (addr - base_), n);
  return true;
}

namespace {

// `mov $15, %rax; syscall`: glibc's x86-64 __restore_rt (rt_sigreturn).
constexpr unsigned char kSigreturn[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};

template <typename Memory>
bool is_sigreturn_trampoline(Memory& mem, const UnwindModule* m, uintptr_t pc) {
  if (m == nullptr || pc < m->lo || pc + sizeof kSigreturn > m->hi) return false;
  unsigned char code[sizeof kSigreturn];
  if (!mem.read_code(pc, code, sizeof code)) return false;
  return memcmp(code, kSigreturn, sizeof code) == 0;
}

// True if `v` could be a return address: inside a module, right after a call instruction
// (e8 rel32, or ff /2 with a 2-, 3-, 6- or 7-byte encoding).
template <typename Memory>
bool looks_like_return_address(Memory& mem, const UnwindModuleSet* set, uintptr_t v) {
  const UnwindModule* m = find_unwind_module(set, v - 1);
  if (m == nullptr || v < m->lo + 7) return false;
  unsigned char code[7];
  if (!mem.read_code(v - 7, code, sizeof code)) return false;
  if (code[2] == 0xe8) return true;
  for (int len : {2, 3, 6, 7}) {
    const unsigned char* insn = code + 7 - len;
    for (int prefix = 0; prefix < len - 1; ++prefix)
      if (insn[prefix] == 0xff && ((insn[prefix + 1] >> 3) & 7) == 2) return true;
  }
  return false;
}

// rbp of a thread walked from registers without it (bp == 0): the first word W above SP
// that points further up the stack and is followed by a return address is taken as a saved
// frame pointer's slot (the layout `push %rbp; mov %rsp,%rbp` leaves).
template <typename Memory>
uintptr_t guess_frame_pointer(Memory& mem, const UnwindModuleSet* set, uintptr_t sp) {
  for (uintptr_t a = (sp + 7) & ~uintptr_t{7}; a < sp + 2048; a += 8) {
    uintptr_t w[2];
    if (!mem.read(a, w, sizeof w)) return 0;
    if ((w[0] > a && w[0] < a + (1u << 20) && (w[0] & 7) == 0) || w[0] == 0)
      if (looks_like_return_address(mem, set, w[1])) return a;
  }
  return 0;
}

// What the walk needs to know about one PC: its module, its row (if any) and whether it is
// the signal trampoline.
struct PcInfo {
  const UnwindModule* module;
  FrameDesc desc;
  bool has_desc;
  bool sigreturn;
};

// A small per-thread cache of PcInfo (initial-exec TLS: no allocation, safe in a handler),
// valid for one published module set. A walk nested in another on the same thread (a signal
// landing in a hook's walk) only reads it, and an entry being written has key 0 meanwhile,
// so a reader never sees half an entry.
constexpr int kPcCacheSize = 32;
struct PcCacheEntry {
  uintptr_t key;  // (pc << 1) | exact, 0 = empty
  PcInfo info;
};
struct PcCache {
  const UnwindModuleSet* set;
  int depth;  // walks in progress on this thread
  PcCacheEntry entries[kPcCacheSize];
};
constinit thread_local PcCache t_pc_cache __attribute__((tls_model("initial-exec"))) = {};

class CacheUse {
 public:
  explicit CacheUse(const UnwindModuleSet* set) noexcept {
    PcCache& c = t_pc_cache;
    ++c.depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    writer_ = c.depth == 1;
    if (c.set != set) {
      usable_ = writer_;
      if (writer_) {
        for (PcCacheEntry& e : c.entries) e.key = 0;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        c.set = set;
      }
    } else {
      usable_ = true;
    }
  }
  ~CacheUse() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --t_pc_cache.depth;
  }
  bool get(uintptr_t key, PcInfo* out) const noexcept {
    if (!usable_) return false;
    PcCacheEntry& e = t_pc_cache.entries[slot(key)];
    if (e.key != key) return false;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    *out = e.info;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return e.key == key;  // not rewritten by a walk nested meanwhile
  }
  void put(uintptr_t key, const PcInfo& info) noexcept {
    if (!usable_ || !writer_) return;
    PcCacheEntry& e = t_pc_cache.entries[slot(key)];
    e.key = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    e.info = info;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    e.key = key;
  }

 private:
  static size_t slot(uintptr_t key) noexcept {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> 59) % kPcCacheSize;
  }
  bool writer_ = false, usable_ = false;
};

template <typename Memory>
PcInfo resolve_pc(Memory& mem, const UnwindModuleSet* set, uintptr_t lookup, uintptr_t pc,
                  bool exact) {
  PcInfo info{};
  info.module = find_unwind_module(set, lookup);
  if (info.module != nullptr) {
    if (const FrameDesc* d = find_frame_desc(*info.module, lookup)) {
      info.desc = *d;
      info.has_desc = true;
    }
  }
  // glibc's __restore_rt sits in an FDE with the signal-frame augmentation 'S' (starting one
  // byte early, so return address - 1 finds it). Only there are code bytes read: libc is
  // never unloaded, whereas a stale return address into a module unloaded since the last
  // refresh must not be dereferenced.
  bool candidate = info.has_desc && (info.desc.flags & kFlagSignalFrame) != 0;
  info.sigreturn = !exact && candidate && is_sigreturn_trampoline(mem, info.module, pc);
  return info;
}

}  // namespace

template <typename Memory>
int walk_stack(WalkRegs regs, Memory& mem, const WalkOptions& opt, uintptr_t* pcs,
               int max_frames) noexcept {
  const UnwindModuleSet* set = unwind_modules();
  int n = 0;
  bool exact = opt.first_exact;
  bool bp_unknown = opt.bp_unknown && regs.bp == 0;
  CacheUse cache(set);
  // Bounded by frames visited, agent frames included, so a loop cannot run away.
  for (int visited = 0; visited < max_frames + 32 && n < max_frames; ++visited) {
    uintptr_t pc = regs.pc;
    if (pc == 0) break;
    uintptr_t lookup = exact ? pc : pc - 1;
    if (!opt.skip_agent || !is_agent_pc(lookup)) pcs[n++] = lookup;
    if (n >= max_frames) break;

    uintptr_t key = (lookup << 1) | (exact ? 1 : 0);
    PcInfo info;
    if (!cache.get(key, &info)) {
      info = resolve_pc(mem, set, lookup, pc, exact);
      if (info.module == nullptr) note_unknown_pc();
      else cache.put(key, info);
    }
    // Returning into the signal trampoline: the interrupted registers are in the ucontext
    // the kernel pushed, which starts at the trampoline's SP.
    if (info.sigreturn) {
      constexpr size_t kGregs = offsetof(ucontext_t, uc_mcontext.gregs);
      uintptr_t rip, rsp, rbp;
      if (!mem.read(regs.sp + kGregs + REG_RIP * 8, &rip, 8) ||
          !mem.read(regs.sp + kGregs + REG_RSP * 8, &rsp, 8) ||
          !mem.read(regs.sp + kGregs + REG_RBP * 8, &rbp, 8))
        break;
      regs = {rip, rsp, rbp};
      bp_unknown = false;
      mem.enter_stack(rsp);
      exact = true;
      continue;
    }

    const FrameDesc* d = info.has_desc ? &info.desc : nullptr;
    uint8_t kind = d != nullptr ? d->cfa_kind : static_cast<uint8_t>(kCfaNoCfi);
    if (bp_unknown && (kind == kCfaRbp || kind == kCfaNoCfi)) {
      regs.bp = guess_frame_pointer(mem, set, regs.sp);
      bp_unknown = false;
    }
    uintptr_t cfa, ra, bp = regs.bp;
    switch (kind) {
      case kCfaRsp:
      case kCfaRbp:
      case kCfaPlt: {
        cfa = (kind == kCfaRbp ? regs.bp : regs.sp) + static_cast<intptr_t>(d->cfa_off);
        if (kind == kCfaPlt && (pc & 15) >= static_cast<uintptr_t>(d->flags >> 4)) cfa += 8;
        if (!mem.read(cfa - 8, &ra, 8)) return n;
        if (d->rbp_off != 0) {
          if (!mem.read(cfa + d->rbp_off, &bp, 8)) return n;
          bp_unknown = false;
        }
        break;
      }
      case kCfaNoCfi: {
        // Frame pointers: [bp] = caller's bp, [bp + 8] = return address.
        if (regs.bp < regs.sp || (regs.bp & 7) != 0) return n;
        uintptr_t frame[2];
        if (!mem.read(regs.bp, frame, sizeof frame)) return n;
        bp = frame[0];
        ra = frame[1];
        cfa = regs.bp + 16;
        break;
      }
      default:  // kCfaOutermost, kCfaUnknown
        return n;
    }
    if (cfa <= regs.sp || ra == 0) break;  // no progress, or the end of the chain
    regs = {ra, cfa, bp};
    exact = false;
  }
  return n;
}

template int walk_stack<LocalStackMemory>(WalkRegs, LocalStackMemory&, const WalkOptions&,
                                          uintptr_t*, int) noexcept;
template int walk_stack<ProcessVmMemory>(WalkRegs, ProcessVmMemory&, const WalkOptions&,
                                         uintptr_t*, int) noexcept;

}  // namespace profagent
