// The DWARF call-frame interpreter (x86-64): reads a CIE, runs the DW_CFA instruction
// programs of a CIE and an FDE, and turns the register rules it tracks into FrameDesc rows.
// Shared by the table builder (dwarf_cfi.cc, normal context) and the lookup before the first
// tables (fde_lookup.cc, signal context). BOTH CONTEXTS: no allocation, no locks, no system
// calls; reads only the bytes [p, end) it is given, which the caller made safe to read (a
// loaded module's .eh_frame while it stays mapped, or a copy of it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/runtime/unwind/frame_desc.h"

namespace profagent::cfi {

constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRa = 16;

// DW_EH_PE pointer encodings.
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeAbsptr = 0x00, kPeUleb = 0x01, kPeUdata2 = 0x02, kPeUdata4 = 0x03,
                  kPeUdata8 = 0x04, kPeSleb = 0x09, kPeSdata2 = 0x0a, kPeSdata4 = 0x0b,
                  kPeSdata8 = 0x0c;
constexpr uint8_t kPePcrel = 0x10, kPeDatarel = 0x30, kPeIndirect = 0x80;

// A bounds-checked reader over [p, end). `bias` is added to a byte's address to get its
// address in the module (non-zero when the bytes are a copy): pc-relative pointers need it.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  intptr_t bias = 0;
  bool ok = true;

  bool has(size_t n) {
    if (static_cast<size_t>(end - p) < n) ok = false;
    return ok;
  }
  template <typename T>
  T fixed() {
    T v{};
    if (!has(sizeof(T))) return v;
    memcpy(&v, p, sizeof(T));
    p += sizeof(T);
    return v;
  }
  uint8_t u8() { return fixed<uint8_t>(); }
  uint64_t uleb();
  int64_t sleb();
  // Decodes an encoded pointer; `data_base` for datarel.
  uint64_t pointer(uint8_t enc, uintptr_t data_base = 0);
};

// The register rules we track. Everything else (rbx, r12...) is irrelevant to the walk.
struct Rules {
  uint8_t cfa_kind = kCfaRsp;
  int32_t cfa_off = 8;
  uint8_t plt_threshold = 0;
  int16_t rbp_off = 0;       // 0: same value
  bool rbp_unknown = false;  // saved in another register or by expression
  bool ra_undefined = false;
  bool ra_unknown = false;   // RA not at CFA-8
};

struct Cie {
  uint64_t code_align = 1;
  int64_t data_align = -8;
  uint64_t ra_reg = kRegRa;
  uint8_t fde_enc = kPeAbsptr;
  bool has_z = false;
  bool signal = false;
  const uint8_t* insns = nullptr;
  const uint8_t* insns_end = nullptr;
  intptr_t bias = 0;  // of the bytes parsed (see Cursor)
  Rules initial;      // after the CIE's own instructions
  bool ok = false;
};

// One length-prefixed .eh_frame entry at `at` (its 4-byte length readable): its body
// [*body, *end), or false for a terminator or a 64-bit entry. Reads only the length.
bool entry_bounds(const uint8_t* at, const uint8_t** body, const uint8_t** end);

// Parses the CIE whose body is [body, end) (after its length), `bias` as in Cursor, and runs
// its initial instructions into cie.initial. False when malformed or unsupported.
bool parse_cie(const uint8_t* body, const uint8_t* end, intptr_t bias, Cie& cie);

// Receives the rules that hold from `loc` on (until the next row's loc, or the program's end).
// Returns false to stop the program there.
class RowSink {
 public:
  virtual bool row(uint64_t loc, const Rules& rules) = 0;

 protected:
  ~RowSink() = default;
};

// Runs the instructions [insns, end) (bias as in Cursor) of `cie`'s FDE (or of the CIE itself,
// with sink == nullptr) from `rules` at `loc`: every advance hands the rules so far to `sink`
// while loc < loc_end, and the program's end hands the last. False when an instruction could
// not be followed (the rules from `loc` on are then unknown).
bool run_program(const Cie& cie, const uint8_t* insns, const uint8_t* end, intptr_t bias,
                 Rules& rules, uint64_t& loc, uint64_t loc_end, RowSink* sink);

// The row for `rules` at `pc_offset` (from the table's base) in an FDE of `cie`.
FrameDesc frame_desc_of(const Cie& cie, const Rules& rules, uint32_t pc_offset);

}  // namespace profagent::cfi
