// The frame-by-frame walk over the module unwind tables, and the two ways it reads memory.
// SIGNAL/HOOK CONTEXT: no locks, no allocation, no descriptors, no dl_iterate_phdr. Every
// memory read goes through a Memory object that checks it first:
//   LocalStackMemory  - the calling thread's own stack (bounds from TLS) or its sigaltstack,
//                       only at or above the walk's starting SP (so only pages in use);
//                       a thread without recorded bounds reads through process_vm_readv.
//   ProcessVmMemory   - process_vm_readv on our own pid (EFAULT instead of a fault), in
//                       512-byte batches; used to walk ANOTHER thread from its registers.
// Stack use (gcc -fstack-usage, -O2): entry point 720 bytes (a Memory object with its
// 512-byte process_vm_readv window) + walk_stack 256 + the deepest read path 208 (+ the libc
// syscall wrapper): under 1.3 KiB, plus the caller's pcs array. Before the first tables
// (walk_without_tables, fde_lookup.h) ~2.8 KiB: kRoomForWalkWithoutTables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profagent {

struct WalkRegs {
  uintptr_t pc, sp, bp;
};

class ProcessVmMemory {
 public:
  ProcessVmMemory() noexcept = default;
  bool read(uintptr_t addr, void* out, size_t n) noexcept;
  bool read_code(uintptr_t addr, void* out, size_t n) noexcept { return read(addr, out, n); }
  void enter_stack(uintptr_t) noexcept {}
  void prefetch_stack(uintptr_t) const noexcept {}

 private:
  static constexpr size_t kWindow = 512;
  int pid_ = 0;  // looked up at the first read
  uintptr_t base_ = 0;
  size_t valid_ = 0;
  alignas(8) unsigned char window_[kWindow];
};

class LocalStackMemory {
 public:
  // `sp`: the stack pointer the walk starts from.
  explicit LocalStackMemory(uintptr_t sp) noexcept;
  bool read(uintptr_t addr, void* out, size_t n) noexcept {
    if (addr >= lo_ && addr < hi_ && n <= hi_ - addr) {
      __builtin_memcpy(out, reinterpret_cast<const void*>(addr), n);
      return true;
    }
    return via_syscall_ && read_via_syscall(addr, out, n);
  }
  // Code bytes of a loaded module (the caller checked the address lies in one).
  bool read_code(uintptr_t addr, void* out, size_t n) noexcept {
    __builtin_memcpy(out, reinterpret_cast<const void*>(addr), n);
    return true;
  }
  // The walk moved to another stack (through a signal frame): re-derive the region.
  void enter_stack(uintptr_t sp) noexcept { select_region(sp); }
  // The walk reads return addresses upward from `sp`, one frame after the other, each read
  // depending on the one before. In a signal handler the stack is usually out of the cache:
  // asking for its next 2 KiB at once lets those misses overlap instead of coming one per
  // frame (about a third of a sample's walk). A prefetch never faults; it stays in bounds.
  void prefetch_stack(uintptr_t sp) const noexcept {
    constexpr uintptr_t kBytes = 2048, kLine = 64;
    if (sp < lo_ || sp >= hi_) return;
    uintptr_t end = hi_ - sp > kBytes ? sp + kBytes : hi_;
    for (uintptr_t a = sp & ~(kLine - 1); a < end; a += kLine)
      __builtin_prefetch(reinterpret_cast<const void*>(a));
  }

 private:
  void select_region(uintptr_t sp) noexcept;
  bool read_via_syscall(uintptr_t addr, void* out, size_t n) noexcept;
  uintptr_t lo_ = 0, hi_ = 0;
  bool via_syscall_ = false;
  ProcessVmMemory fallback_;  // for a stack without recorded bounds
};


// The first address of the function (its FDE) that holds `pc`, or 0 when none is known.
// Async-signal-safe.
uintptr_t function_start_of(uintptr_t pc) noexcept;

// One read of n bytes from our own process through process_vm_readv; false on any error.
bool process_vm_read(int pid, uintptr_t addr, void* out, size_t n, size_t* got) noexcept;

struct WalkOptions {
  bool first_exact = true;   // regs.pc is an interrupted PC (not a return address)
  bool skip_agent = false;   // drop frames inside libprofagent.so
  bool bp_unknown = false;   // regs.bp == 0 means "not known": guess it where a rule needs it
  // Prefetch the stack above SP at the start: for a walk from a signal, whose stack the
  // program's own work has mostly pushed out of the cache. A hook's walk runs on the hot
  // stack of the call it interrupts, where the prefetches would only evict program data.
  bool prefetch_stack = false;
  // Read each PC's rule from its object's .eh_frame (fde_lookup.h), as every walk does
  // before the first tables are published, even when they are: for tests.
  bool without_tables = false;
  // Where the first signal frame's ucontext lies (the kernel's, at the trampoline's SP): set
  // when the walk passes a signal frame, if not null.
  uintptr_t* first_ucontext = nullptr;
};

// Walks made before the first tables (each rule read from its object's .eh_frame), since
// start, and the time they took (their first reads of an object's .eh_frame page-fault it in:
// ~0.5 ms for a python3 stack on a VM whose faults cost 10-30 us). Async-signal-safe.
struct WalksWithoutTables {
  uint64_t count;
  int64_t nanos;
};
WalksWithoutTables walks_without_tables() noexcept;

// Walks from `regs`, writing pprof location addresses (exact PCs, return addresses - 1).
template <typename Memory>
int walk_stack(WalkRegs regs, Memory& mem, const WalkOptions& opt, uintptr_t* pcs,
               int max_frames) noexcept;

extern template int walk_stack<LocalStackMemory>(WalkRegs, LocalStackMemory&, const WalkOptions&,
                                                 uintptr_t*, int) noexcept;
extern template int walk_stack<ProcessVmMemory>(WalkRegs, ProcessVmMemory&, const WalkOptions&,
                                                uintptr_t*, int) noexcept;

}  // namespace profagent
