// The unwind row for one PC, read straight from its loaded object's .eh_frame_hdr and
// .eh_frame: what a walk uses before the dump thread has published the first unwind tables
// (a few ms after start; tens of ms when the machine is loaded), so the first samples of a
// process keep their whole stacks. SIGNAL CONTEXT: async-signal-safe, no allocation, no
// locks (the object is found with _dl_find_object, lock-free). The objects known to stay
// loaded as long as the agent (the program, libc, the dynamic loader, this agent) are read in
// place; any other (libraries loaded at start included: nothing cheap tells them from a
// dlopen'ed one) through process_vm_readv, so one that another thread unloads meanwhile is
// EFAULT, never a fault (and costs a few system calls per PC). Bytes that cannot be read or
// followed give kCfaUnknown (the walk ends), never a guess. ~1.5 KiB of stack with the
// interpreter's; the whole walk needs kRoomForWalkWithoutTables.
#pragma once

#include <cstdint>

#include "agent/runtime/unwind/cfi_program.h"
#include "agent/runtime/unwind/frame_desc.h"

namespace profagent {

// glibc's x86-64 __restore_rt, the signal trampoline: `mov $15, %rax; syscall`.
constexpr unsigned char kSigreturnCode[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};

struct RowWithoutTables {
  bool in_object = false;  // a loaded object's mapping holds the PC
  bool has_desc = false;   // an FDE covers it: `desc` is its rule there (desc.pc unused)
  bool sigreturn = false;  // `return_address` is glibc's signal trampoline
  bool unreadable = false; // the object's bytes could not be read or followed (kCfaUnknown):
                           // maybe only for now (a dlclose under way), so not to be cached
  FrameDesc desc{};
  uintptr_t row_lo = 0, row_hi = 0;  // the addresses the rule holds for (0, 0: unknown)
};

// What one walk keeps between its frames' lookups (most frames of a stack share an object,
// many a CIE). Lives on the walk's stack.
struct RowLookupCache {
  uintptr_t map_lo = 0;  // the object last looked up (0: none)
  uintptr_t map_hi = 0, hdr = 0, table = 0;
  uint64_t count = 0;
  uint64_t first_loc = 0;  // the search table's first and last initial locations
  uint64_t last_loc = 0;   // (datarel: from hdr)
  bool in_place = false;   // the object can never be unloaded: read in place
  uintptr_t cie_at = 0;    // the CIE last parsed (0: none)
  cfi::Cie cie;
  int pid = 0;             // for process_vm_readv (0: not looked up yet)
};

// The rule for `lookup` (an interrupted PC, or a return address - 1). `return_address`: the
// return address itself for a caller's frame (checked for the signal trampoline when its
// FDE is a signal frame's), 0 for an interrupted PC.
RowWithoutTables find_row_without_tables(uintptr_t lookup, uintptr_t return_address,
                                         RowLookupCache& cache) noexcept;

}  // namespace profagent
