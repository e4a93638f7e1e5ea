// The compact unwind rule the walker looks up per PC (x86-64), shared by the table builder
// (normal context) and the walk (signal/hook context). Plain data, no code.
#pragma once

#include <cstdint>

namespace profagent {

// How the canonical frame address (CFA) of a frame is computed.
enum CfaKind : uint8_t {
  kCfaRsp = 0,        // CFA = rsp + cfa_off
  kCfaRbp = 1,        // CFA = rbp + cfa_off
  kCfaPlt = 2,        // PLT stub: CFA = rsp + cfa_off + ((rip & 15) >= plt_threshold ? 8 : 0)
  kCfaNoCfi = 3,      // no FDE covers this PC: frame-pointer fallback
  kCfaOutermost = 4,  // return address undefined (_start, clone): the stack ends here
  kCfaUnknown = 5,    // a rule we do not model (other DWARF expressions): the walk ends
};

enum FrameFlags : uint8_t {
  kFlagSignalFrame = 1,  // the FDE's CIE has augmentation 'S'
  kFlagFdeStart = 2,     // this row starts an FDE (a function's first address)
};

// One row: from `pc` (offset from the table's base address) up to the next row's pc.
// The return address is always at CFA - 8 (checked when building: other RA rules give
// kCfaUnknown). rbp is unchanged when rbp_off == 0, else saved at CFA + rbp_off.
struct FrameDesc {
  uint32_t pc;
  int32_t cfa_off;
  int16_t rbp_off;
  uint8_t cfa_kind;
  uint8_t flags;  // FrameFlags; for kCfaPlt the high nibble holds plt_threshold
};
static_assert(sizeof(FrameDesc) == 12);

}  // namespace profagent
