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

#include "agent/core/code_layout.h"
#include "agent/core/cost_clock.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/unwind/fde_lookup.h"
#include "agent/runtime/unwind/frame_desc.h"
#include "agent/runtime/unwind/thread_cache_slots.h"
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

PROFAGENT_START_PATH
LocalStackMemory::LocalStackMemory(uintptr_t sp) noexcept { select_region(sp); }

PROFAGENT_SAMPLE_PATH void LocalStackMemory::select_region(uintptr_t sp) noexcept {
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

template <typename Memory>
bool is_sigreturn_trampoline(Memory& mem, const UnwindModule* m, uintptr_t pc) {
  if (m == nullptr || pc < m->lo || pc + sizeof kSigreturnCode > m->hi) return false;
  unsigned char code[sizeof kSigreturnCode];
  if (!mem.read_code(pc, code, sizeof code)) return false;
  return memcmp(code, kSigreturnCode, sizeof code) == 0;
}

// The call instruction that ends right before `v`, if the bytes there decode as one:
// kDirectCall (e8 rel32; *target is where it goes), kIndirectCall (ff /2, any ModRM/SIB/
// displacement form, whose length must end exactly at v), or kNoCall. Only for v inside a
// loaded module (code bytes are read directly).
enum CallKind { kNoCall, kDirectCall, kIndirectCall };

template <typename Memory>
CallKind call_before(Memory& mem, const UnwindModuleSet* set, uintptr_t v, uintptr_t* target) {
  const UnwindModule* m = find_unwind_module(set, v - 1);
  if (m == nullptr || v < m->lo + 8 || v > m->hi) return kNoCall;
  unsigned char code[8];
  if (!mem.read_code(v - 8, code, sizeof code)) return kNoCall;
  if (code[3] == 0xe8) {
    int32_t rel;
    memcpy(&rel, code + 4, 4);
    *target = v + static_cast<intptr_t>(rel);
    return kDirectCall;
  }
  for (int p = 0; p + 2 <= 8; ++p) {
    if (code[p] != 0xff || ((code[p + 1] >> 3) & 7) != 2) continue;
    int mod = code[p + 1] >> 6, rm = code[p + 1] & 7;
    int len = 2;
    if (mod != 3 && rm == 4) {  // a SIB byte follows
      if (p + 2 >= 8) continue;
      ++len;
      if (mod == 0 && (code[p + 2] & 7) == 5) len += 4;  // no base: disp32
    }
    if (mod == 0 && rm == 5) len += 4;  // rip-relative disp32
    else if (mod == 1) len += 1;
    else if (mod == 2) len += 4;
    if (p + len == 8) return kIndirectCall;
  }
  return kNoCall;
}

// True if `v` could be a return address: inside a module, right after a call instruction.
template <typename Memory>
bool looks_like_return_address(Memory& mem, const UnwindModuleSet* set, uintptr_t v) {
  uintptr_t target;
  return call_before(mem, set, v, &target) != kNoCall;
}

// The first address of the function (FDE) that holds `pc`, or 0 when no FDE does.
uintptr_t function_start(const UnwindModule* m, uintptr_t pc) {
  if (m == nullptr) return 0;
  const FrameDesc* d = find_frame_desc(*m, pc);
  if (d == nullptr) return 0;
  for (size_t i = static_cast<size_t>(d - m->rows), steps = 0; steps < 4096; --i, ++steps) {
    const FrameDesc& r = m->rows[i];
    if (r.cfa_kind == kCfaNoCfi) return 0;  // left the FDE without seeing its start
    if (r.flags & kFlagFdeStart) return m->base + r.pc;
    if (i == 0) break;
  }
  return 0;
}

// True if `t` is a PLT-style stub: a row with the PLT rule, or `[endbr64] [bnd] jmp *GOT(%rip)`.
template <typename Memory>
bool is_plt_stub(Memory& mem, const UnwindModuleSet* set, uintptr_t t) {
  const UnwindModule* m = find_unwind_module(set, t);
  if (m == nullptr || t + 11 > m->hi) return false;
  if (const FrameDesc* d = find_frame_desc(*m, t); d != nullptr && d->cfa_kind == kCfaPlt)
    return true;
  unsigned char code[11];
  if (!mem.read_code(t, code, sizeof code)) return false;
  const unsigned char* c = code;
  if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) c += 4;  // endbr64
  if (c[0] == 0xf2) ++c;                                                    // bnd
  return c[0] == 0xff && c[1] == 0x25;
}

// True if `ra` is a plausible return address for a frame of the function [fn_start, pc]:
// right after an indirect call, or a direct call into that function (or a PLT stub that
// jumps on to it). fn_start == 0 (no FDE): a direct call to an address below pc.
template <typename Memory>
bool returns_from(Memory& mem, const UnwindModuleSet* set, uintptr_t ra, uintptr_t fn_start,
                  uintptr_t pc) {
  uintptr_t target = 0;
  switch (call_before(mem, set, ra, &target)) {
    case kIndirectCall: return true;
    case kDirectCall:
      if (fn_start != 0 ? (target >= fn_start && target <= pc) : target <= pc) return true;
      return is_plt_stub(mem, set, target);
    default: return false;
  }
}

// rbp of a thread walked from registers without it (bp == 0), for the frame of the function
// [fn_start, pc] whose CFA rule needs it: the first slot above SP followed by a plausible
// return address into that function's caller is taken as the saved frame pointer's slot
// (the layout `push %rbp; mov %rsp,%rbp` leaves). The saved value itself is not checked:
// a caller built without frame pointers (glibc's __libc_start_call_main) leaves any value
// in rbp. A stale pair left by an earlier call fails the call check (it returns from
// another function), and so does a pointer to a function's first byte (a function pointer
// in a local is no return address). 0 when none is found: the walk ends there.
template <typename Memory>
uintptr_t guess_frame_pointer(Memory& mem, const UnwindModuleSet* set, uintptr_t sp,
                              uintptr_t fn_start, uintptr_t pc) {
  for (uintptr_t a = (sp + 7) & ~uintptr_t{7}; a < sp + 2048; a += 8) {
    uintptr_t ra;
    if (!mem.read(a + 8, &ra, sizeof ra)) return 0;
    // (The agent's own signal handler, where a thread waits for the termination dump,
    // returns into the kernel's trampoline, which follows no call. Only there: a stale
    // signal frame in another function's locals is never taken for its caller.)
    if (!returns_from(mem, set, ra, fn_start, pc) &&
        !(is_agent_pc(pc) && is_sigreturn_trampoline(mem, find_unwind_module(set, ra), ra)))
      continue;
    const UnwindModule* m = find_unwind_module(set, ra);
    if (m != nullptr && function_start(m, ra) == ra) continue;
    return a;
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

// A small per-thread cache of PcInfo (in the thread's slot, thread_cache_slots.h: no
// allocation, safe in a handler), valid for one published module set, or for none (the walks
// before the first tables). A walk nested in another on the same thread (a signal landing in
// a hook's walk) only reads it, and an entry being written has key 0 meanwhile, so a reader
// never sees half an entry.
// 128 entries (4 KiB per thread; 32 before), two-way: a set is one cache line, and two
// callers of one walk whose PCs fell on the same slot of a direct-mapped cache missed on
// every sample (one frame in ~11 of a zstd sample).
constexpr int kPcCacheSize = 128;
constexpr int kPcCacheWays = 2;
constexpr int kPcCacheSets = kPcCacheSize / kPcCacheWays;
struct PcCacheEntry {
  uintptr_t key;  // a return address - 1 (interrupted PCs go to the leaf ranges), 0 = empty
  PcInfo info;
};
// The sets the thread's last outermost walk looked up, in order. The next sample of the
// thread mostly walks the same callers, and each lookup depends on the frame before it, so
// on cold caches their misses came one frame after the other; prefetched together at the
// walk's start they overlap (~20-30% of a zstd sample's walk in paired runs). One line.
constexpr int kRememberedSets = 56;
static_assert(kPcCacheSets <= 256, "sets are remembered as bytes");
// The rows that answered the thread's recent interrupted PCs (a sample's leaf), by address
// range [lo, hi): the leaf PC of a CPU sample is nearly always new, so a PC-keyed entry for
// it never hit again and evicted a caller's; but it mostly falls in a row a recent sample
// used (a hot function's body is one row). Looked up by range, round robin.
constexpr int kLeafRanges = 8;
struct LeafRange {
  uintptr_t lo, hi;  // hi == 0: empty (or being written)
  PcInfo info;
};
struct PcCache {
  const UnwindModuleSet* set;
  int depth;  // walks in progress on this thread
  uint8_t last_count;
  uint8_t last_sets[kRememberedSets];
  uint32_t leaf_next;  // the leaf range written next
  LeafRange leaf[kLeafRanges];
  alignas(64) PcCacheEntry entries[kPcCacheSize];  // set s: entries 2s (newest) and 2s + 1
};
static_assert(sizeof(PcCacheEntry) * kPcCacheWays == 64, "a set is one cache line");
static_assert(sizeof(PcCache) <= kThreadCacheSlotBytes);

class CacheUse {
 public:
  explicit CacheUse(const UnwindModuleSet* set) noexcept
      : cache_(static_cast<PcCache*>(thread_cache_slot(sizeof(PcCache)))) {
    if (cache_ == nullptr) return;  // (no slot: every lookup misses)
    PcCache& c = *cache_;
    ++c.depth;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    writer_ = c.depth == 1;
    if (c.set != set) {
      usable_ = writer_;
      if (writer_) {
        for (PcCacheEntry& e : c.entries) e.key = 0;
        for (LeafRange& r : c.leaf) r.hi = 0;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        c.set = set;
      }
    } else {
      usable_ = true;
    }
    if (usable_ && writer_) {
      for (int i = 0; i < c.last_count; ++i)
        __builtin_prefetch(&c.entries[c.last_sets[i] * kPcCacheWays]);
      for (size_t at = 0; at < sizeof c.leaf; at += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(c.leaf) + at);
    }
  }
  ~CacheUse() {
    if (cache_ == nullptr) return;
    // Only the outermost walk records: a nested one (a signal in a hook's walk) reads only.
    if (usable_ && writer_) cache_->last_count = static_cast<uint8_t>(remembered_);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --cache_->depth;
  }
  bool get(uintptr_t key, PcInfo* out) noexcept {
    if (!usable_) return false;
    size_t set = set_of(key);
    if (writer_ && remembered_ < kRememberedSets)
      cache_->last_sets[remembered_++] = static_cast<uint8_t>(set);
    for (int way = 0; way < kPcCacheWays; ++way) {
      PcCacheEntry& e = cache_->entries[set * kPcCacheWays + way];
      if (e.key != key) continue;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      *out = e.info;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      return e.key == key;  // not rewritten by a walk nested meanwhile
    }
    return false;
  }
  // An interrupted PC (exact lookup) is looked up by the range of its row.
  bool get_leaf(uintptr_t pc, PcInfo* out) const noexcept {
    if (!usable_) return false;
    for (const LeafRange& r : cache_->leaf) {
      if (pc < r.lo || pc >= r.hi) continue;  // a range being written has hi == 0
      *out = r.info;
      return true;
    }
    return false;
  }
  void put_leaf(uintptr_t lo, uintptr_t hi, const PcInfo& info) noexcept {
    if (!usable_ || !writer_ || hi <= lo) return;
    PcCache& c = *cache_;
    LeafRange& r = c.leaf[c.leaf_next++ % kLeafRanges];
    // A walk nested in this one runs on this thread, interrupting it: it sees the range
    // empty (hi == 0) or whole.
    r.hi = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r.lo = lo;
    r.info = info;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r.hi = hi;
  }
  // The new entry goes to the set's first way; the one there moves to the second, whose
  // entry is dropped.
  void put(uintptr_t key, const PcInfo& info) noexcept {
    if (!usable_ || !writer_) return;
    PcCacheEntry* set = &cache_->entries[set_of(key) * kPcCacheWays];
    if (set[0].key != 0) write(set[1], set[0].key, set[0].info);
    write(set[0], key, info);
  }

 private:
  static void write(PcCacheEntry& e, uintptr_t key, const PcInfo& info) noexcept {
    e.key = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    e.info = info;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    e.key = key;
  }
  static size_t set_of(uintptr_t key) noexcept {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ull) >> 58) % kPcCacheSets;
  }
  PcCache* const cache_;  // the thread's, or nullptr
  bool writer_ = false, usable_ = false;
  int remembered_ = 0;  // sets this walk looked up so far (outermost walk only)
};

template <typename Memory>
PROFAGENT_SAMPLE_PATH
PcInfo resolve_pc(Memory& mem, const UnwindModuleSet* set, uintptr_t lookup, uintptr_t pc,
                  bool exact, uintptr_t* row_lo, uintptr_t* row_hi) {
  PcInfo info{};
  *row_lo = *row_hi = 0;
  info.module = find_unwind_module(set, lookup);
  if (info.module != nullptr) {
    const UnwindModule& m = *info.module;
    if (const FrameDesc* d = find_frame_desc(m, lookup)) {
      info.desc = *d;
      info.has_desc = true;
      // The addresses this row answers for: up to the next row, inside this segment.
      size_t next = static_cast<size_t>(d - m.rows) + 1;
      uintptr_t lo = m.base + d->pc, hi = next < m.row_count ? m.base + m.rows[next].pc : m.hi;
      *row_lo = lo > m.lo ? lo : m.lo;
      *row_hi = hi < m.hi ? hi : m.hi;
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

// Where a walk finds each PC's rule: the published tables (set != nullptr), or before the
// first tables each object's own .eh_frame (fde_lookup.h, with the walk's RowLookupCache;
// `module` stays null, which nothing needs outside a guessed walk).
// keep(): whether the answer may go into the per-thread cache.
struct TableRows {
  const UnwindModuleSet* set;
  template <typename Memory>
  PcInfo resolve(Memory& mem, uintptr_t lookup, uintptr_t pc, bool exact, uintptr_t* row_lo,
                 uintptr_t* row_hi) {
    return resolve_pc(mem, set, lookup, pc, exact, row_lo, row_hi);
  }
  bool keep(const PcInfo& info) const { return info.module != nullptr; }
};
struct ObjectRows {
  static constexpr const UnwindModuleSet* set = nullptr;
  RowLookupCache cache;
  bool last_unreadable = false;
  template <typename Memory>
  PcInfo resolve(Memory&, uintptr_t lookup, uintptr_t pc, bool exact, uintptr_t* row_lo,
                 uintptr_t* row_hi) {
    RowWithoutTables row = find_row_without_tables(lookup, exact ? 0 : pc, cache);
    last_unreadable = row.unreadable;
    PcInfo info{};
    info.desc = row.desc;
    info.has_desc = row.has_desc;
    info.sigreturn = row.sigreturn;
    *row_lo = row.row_lo;
    *row_hi = row.row_hi;
    return info;
  }
  bool keep(const PcInfo&) const { return !last_unreadable; }
};

}  // namespace

uintptr_t function_start_of(uintptr_t pc) noexcept {
  const UnwindModuleSet* set = unwind_modules();
  return set != nullptr ? function_start(find_unwind_module(set, pc), pc) : 0;
}

namespace {

// Code bytes of a loaded module, read where they are mapped (is_sigreturn_trampoline checks
// the address lies inside the module first).
struct LoadedCode {
  bool read_code(uintptr_t addr, void* out, size_t n) const noexcept {
    memcpy(out, reinterpret_cast<const void*>(addr), n);
    return true;
  }
};

}  // namespace

bool is_signal_return_frame(uintptr_t lookup) noexcept {
  const UnwindModuleSet* set = unwind_modules();
  if (set == nullptr) return false;
  LoadedCode code;
  return is_sigreturn_trampoline(code, find_unwind_module(set, lookup + 1), lookup + 1);
}

namespace {

template <typename Memory, typename Rows>
PROFAGENT_SAMPLE_PATH __attribute__((always_inline)) inline int walk_with(
    WalkRegs regs, Memory& mem, const WalkOptions& opt, Rows& rows, uintptr_t* pcs,
    int max_frames) noexcept {
  const UnwindModuleSet* set = rows.set;
  int n = 0;
  bool exact = opt.first_exact;
  bool bp_unknown = opt.bp_unknown && regs.bp == 0;
  bool guessed = false;  // frames from here on hang off a guessed rbp: check each return
  if (opt.prefetch_stack) mem.prefetch_stack(regs.sp);
  CacheUse cache(set);
  // Bounded by frames visited, agent frames included, so a loop cannot run away.
  for (int visited = 0; visited < max_frames + 32 && n < max_frames; ++visited) {
    uintptr_t pc = regs.pc;
    if (pc == 0) break;
    uintptr_t lookup = exact ? pc : pc - 1;
    if (!opt.skip_agent || !is_agent_pc(lookup)) pcs[n++] = lookup;
    if (n >= max_frames) break;

    PcInfo info;
    if (exact ? !cache.get_leaf(lookup, &info) : !cache.get(lookup, &info)) {
      uintptr_t row_lo, row_hi;
      info = rows.resolve(mem, lookup, pc, exact, &row_lo, &row_hi);
      if (set != nullptr && info.module == nullptr) note_unknown_pc();
      if (exact) cache.put_leaf(row_lo, row_hi, info);
      else if (rows.keep(info)) cache.put(lookup, info);
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
      if (opt.first_ucontext != nullptr && *opt.first_ucontext == 0)
        *opt.first_ucontext = regs.sp;
      regs = {rip, rsp, rbp};
      bp_unknown = false;
      guessed = false;
      mem.enter_stack(rsp);
      exact = true;
      continue;
    }

    const FrameDesc* d = info.has_desc ? &info.desc : nullptr;
    uint8_t kind = d != nullptr ? d->cfa_kind : static_cast<uint8_t>(kCfaNoCfi);
    if (bp_unknown && (kind == kCfaRbp || kind == kCfaNoCfi)) {
      if (set == nullptr) break;  // the guess needs the tables
      regs.bp = guess_frame_pointer(mem, set, regs.sp, function_start(info.module, lookup),
                                    lookup);
      bp_unknown = false;
      if (regs.bp == 0) break;
      guessed = true;
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
    // Past a guess, a return address that follows no call ends the walk: a truncated stack
    // beats a wrong one.
    // (The agent's handler returns into the signal trampoline, which follows no call.)
    if (guessed && !looks_like_return_address(mem, set, ra) &&
        !(is_agent_pc(lookup) && is_sigreturn_trampoline(mem, find_unwind_module(set, ra), ra)))
      break;
    regs = {ra, cfa, bp};
    exact = false;
  }
  return n;
}

constinit std::atomic<uint64_t> g_walks_without_tables{0};
constinit std::atomic<uint64_t> g_walks_without_tables_ticks{0};  // cost_clock ticks

// Before the first tables: out of line, so its frame (the lookup cache, the FDE copy) is
// only entered then.
template <typename Memory>
__attribute__((noinline)) int walk_without_tables(WalkRegs regs, Memory& mem,
                                                  const WalkOptions& opt, uintptr_t* pcs,
                                                  int max_frames) noexcept {
  const uint64_t start = cost_clock_now();
  ObjectRows rows;
  int n = walk_with(regs, mem, opt, rows, pcs, max_frames);
  const uint64_t spent = cost_clock_now() - start;
  if (static_cast<int64_t>(spent) > 0)
    g_walks_without_tables_ticks.fetch_add(spent, std::memory_order_relaxed);
  g_walks_without_tables.fetch_add(1, std::memory_order_relaxed);
  return n;
}

}  // namespace

WalksWithoutTables walks_without_tables() noexcept {
  return {g_walks_without_tables.load(std::memory_order_relaxed),
          static_cast<int64_t>(
              static_cast<double>(g_walks_without_tables_ticks.load(std::memory_order_relaxed)) *
              cost_clock_nanos_per_tick())};
}

template <typename Memory>
PROFAGENT_SAMPLE_PATH
int walk_stack(WalkRegs regs, Memory& mem, const WalkOptions& opt, uintptr_t* pcs,
               int max_frames) noexcept {
  // Before the first tables (or when a test asks for it) each PC's rule is read from its
  // object's .eh_frame instead: slower, only for a process's first milliseconds.
  const UnwindModuleSet* set = opt.without_tables ? nullptr : unwind_modules();
  if (set == nullptr) return walk_without_tables(regs, mem, opt, pcs, max_frames);
  TableRows rows{set};
  return walk_with(regs, mem, opt, rows, pcs, max_frames);
}

// The attribute on the instantiation places it with the other sample-path code.
template PROFAGENT_SAMPLE_PATH int walk_stack<LocalStackMemory>(WalkRegs, LocalStackMemory&,
                                                                const WalkOptions&, uintptr_t*,
                                                                int) noexcept;
template int walk_stack<ProcessVmMemory>(WalkRegs, ProcessVmMemory&, const WalkOptions&,
                                         uintptr_t*, int) noexcept;

}  // namespace profagent
