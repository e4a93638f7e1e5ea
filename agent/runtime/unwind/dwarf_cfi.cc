// DWARF call-frame information (.eh_frame) to FrameDesc rows. NORMAL CONTEXT ONLY: runs on
// the agent thread (or at init) inside a dl_iterate_phdr callback, so the module stays
// mapped while we read it; allocates freely. x86-64 register numbers: rbp 6, rsp 7, RA 16.
#include "agent/runtime/unwind/dwarf_cfi.h"

#include <algorithm>
#include <cstring>

namespace profagent {
namespace {

constexpr int kRegRbp = 6;
constexpr int kRegRsp = 7;
constexpr int kRegRa = 16;

// DW_EH_PE pointer encodings.
constexpr uint8_t kPeOmit = 0xff;
constexpr uint8_t kPeAbsptr = 0x00, kPeUleb = 0x01, kPeUdata2 = 0x02, kPeUdata4 = 0x03,
                  kPeUdata8 = 0x04, kPeSleb = 0x09, kPeSdata2 = 0x0a, kPeSdata4 = 0x0b,
                  kPeSdata8 = 0x0c;
constexpr uint8_t kPePcrel = 0x10, kPeDatarel = 0x30, kPeIndirect = 0x80;

struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
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
  uint64_t uleb() {
    uint64_t v = 0;
    int shift = 0;
    while (has(1)) {
      uint8_t b = *p++;
      if (shift < 64) v |= static_cast<uint64_t>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    return v;
  }
  int64_t sleb() {
    int64_t v = 0;
    int shift = 0;
    uint8_t b = 0;
    while (has(1)) {
      b = *p++;
      if (shift < 64) v |= static_cast<int64_t>(b & 0x7f) << shift;
      shift += 7;
      if (!(b & 0x80)) break;
    }
    if (shift < 64 && (b & 0x40)) v |= -(static_cast<int64_t>(1) << shift);
    return v;
  }
  // Decodes an encoded pointer; `data_base` for datarel.
  uint64_t pointer(uint8_t enc, uintptr_t data_base = 0) {
    if (enc == kPeOmit) return 0;
    uintptr_t here = reinterpret_cast<uintptr_t>(p);
    uint64_t v = 0;
    switch (enc & 0x0f) {
      case kPeAbsptr: v = fixed<uint64_t>(); break;
      case kPeUleb: v = uleb(); break;
      case kPeUdata2: v = fixed<uint16_t>(); break;
      case kPeUdata4: v = fixed<uint32_t>(); break;
      case kPeUdata8: v = fixed<uint64_t>(); break;
      case kPeSleb: v = static_cast<uint64_t>(sleb()); break;
      case kPeSdata2: v = static_cast<uint64_t>(static_cast<int64_t>(fixed<int16_t>())); break;
      case kPeSdata4: v = static_cast<uint64_t>(static_cast<int64_t>(fixed<int32_t>())); break;
      case kPeSdata8: v = fixed<uint64_t>(); break;
      default: ok = false; return 0;
    }
    switch (enc & 0x70) {
      case 0: break;
      case kPePcrel: v += here; break;
      case kPeDatarel: v += data_base; break;
      default: ok = false; return 0;  // textrel/funcrel/aligned: not used on x86-64 Linux
    }
    if (enc & kPeIndirect) ok = false;  // never for FDE addresses
    return v;
  }
};

// The register rules we track. Everything else (rbx, r12...) is irrelevant to the walk.
struct Rules {
  uint8_t cfa_kind = kCfaRsp;
  int32_t cfa_off = 8;
  uint8_t plt_threshold = 0;
  int16_t rbp_off = 0;     // 0: same value
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
  Rules initial;
  bool ok = false;
};

// Recognises the PLT's CFA expression: breg7 N; breg16 0; lit15; and; litK; ge; lit3; shl;
// plus  =>  CFA = rsp + N + ((rip & 15) >= K) * 8.
bool match_plt_expression(const uint8_t* e, uint64_t len, int32_t* off, uint8_t* threshold) {
  Cursor c{e, e + len};
  if (c.u8() != 0x77) return false;  // DW_OP_breg7
  int64_t n = c.sleb();
  if (c.u8() != 0x80) return false;  // DW_OP_breg16
  if (c.sleb() != 0) return false;
  if (c.u8() != 0x3f) return false;  // DW_OP_lit15
  if (c.u8() != 0x1a) return false;  // DW_OP_and
  uint8_t lit = c.u8();
  if (lit < 0x30 || lit > 0x4f) return false;  // DW_OP_litK
  if (c.u8() != 0x2a) return false;  // DW_OP_ge
  if (c.u8() != 0x33) return false;  // DW_OP_lit3
  if (c.u8() != 0x24) return false;  // DW_OP_shl
  if (c.u8() != 0x22) return false;  // DW_OP_plus
  if (!c.ok || c.p != c.end) return false;
  *off = static_cast<int32_t>(n);
  *threshold = static_cast<uint8_t>(lit - 0x30);
  return true;
}

void set_register_offset(Rules& r, uint64_t reg, int64_t byte_off) {
  if (reg == kRegRbp) {
    if (byte_off == 0 || byte_off < INT16_MIN || byte_off > INT16_MAX) {
      r.rbp_unknown = true;
    } else {
      r.rbp_off = static_cast<int16_t>(byte_off);
      r.rbp_unknown = false;
    }
  } else if (reg == kRegRa) {
    r.ra_unknown = byte_off != -8;
    r.ra_undefined = false;
  }
}

void set_register_other(Rules& r, uint64_t reg, bool undefined, bool same) {
  if (reg == kRegRbp) {
    r.rbp_off = 0;
    r.rbp_unknown = !(same || undefined);
  } else if (reg == kRegRa) {
    r.ra_undefined = undefined;
    r.ra_unknown = !undefined;
  }
}

class Program {
 public:
  Program(const Cie& cie, uintptr_t base, std::vector<FrameDesc>& out)
      : cie_(cie), base_(base), out_(out) {}

  // Runs `insns` starting from `rules`; emits rows while `emit` (an FDE's program).
  // The next row emitted is an FDE's first (its function's start address).
  void mark_fde_start() { mark_start_ = true; }

  bool run(const uint8_t* insns, const uint8_t* end, Rules& rules, uint64_t& loc,
           uint64_t loc_end, bool emit) {
    Cursor c{insns, end};
    Rules stack[16];
    int depth = 0;
    const Rules& initial = cie_.initial;
    while (c.ok && c.p < c.end) {
      uint8_t op = c.u8();
      uint8_t high = op & 0xc0, low = op & 0x3f;
      uint64_t advance = 0;
      if (high == 0x40) {
        advance = low * cie_.code_align;
      } else if (high == 0x80) {
        set_register_offset(rules, low, static_cast<int64_t>(c.uleb()) * cie_.data_align);
      } else if (high == 0xc0) {
        restore(rules, initial, low);
      } else {
        switch (op) {
          case 0x00: break;  // nop
          case 0x01: {       // set_loc
            uint64_t to = c.pointer(cie_.fde_enc);
            if (to > loc) advance = to - loc;
            break;
          }
          case 0x02: advance = c.u8() * cie_.code_align; break;
          case 0x03: advance = c.fixed<uint16_t>() * cie_.code_align; break;
          case 0x04: advance = c.fixed<uint32_t>() * cie_.code_align; break;
          case 0x05: {  // offset_extended
            uint64_t reg = c.uleb();
            set_register_offset(rules, reg, static_cast<int64_t>(c.uleb()) * cie_.data_align);
            break;
          }
          case 0x06: restore(rules, initial, c.uleb()); break;  // restore_extended
          case 0x07: set_register_other(rules, c.uleb(), true, false); break;  // undefined
          case 0x08: set_register_other(rules, c.uleb(), false, true); break;  // same_value
          case 0x09: {  // register
            uint64_t reg = c.uleb();
            c.uleb();
            set_register_other(rules, reg, false, false);
            break;
          }
          case 0x0a:  // remember_state
            if (depth < 16) stack[depth++] = rules;
            else return false;
            break;
          case 0x0b:  // restore_state (the CFA rule is restored too, as GCC expects)
            if (depth == 0) return false;
            rules = stack[--depth];
            break;
          case 0x0c: {  // def_cfa
            uint64_t reg = c.uleb();
            set_cfa(rules, reg, static_cast<int64_t>(c.uleb()));
            break;
          }
          case 0x0d: set_cfa(rules, c.uleb(), rules.cfa_off, true); break;  // def_cfa_register
          case 0x0e:  // def_cfa_offset
            if (rules.cfa_kind == kCfaRsp || rules.cfa_kind == kCfaRbp)
              rules.cfa_off = static_cast<int32_t>(c.uleb());
            else
              c.uleb();
            break;
          case 0x0f: {  // def_cfa_expression
            uint64_t len = c.uleb();
            if (!c.has(len)) break;
            int32_t off;
            uint8_t threshold;
            if (match_plt_expression(c.p, len, &off, &threshold)) {
              rules.cfa_kind = kCfaPlt;
              rules.cfa_off = off;
              rules.plt_threshold = threshold;
            } else {
              rules.cfa_kind = kCfaUnknown;
            }
            c.p += len;
            break;
          }
          case 0x10: {  // expression
            uint64_t reg = c.uleb();
            uint64_t len = c.uleb();
            if (c.has(len)) c.p += len;
            set_register_other(rules, reg, false, false);
            break;
          }
          case 0x11: {  // offset_extended_sf
            uint64_t reg = c.uleb();
            set_register_offset(rules, reg, c.sleb() * cie_.data_align);
            break;
          }
          case 0x12: {  // def_cfa_sf
            uint64_t reg = c.uleb();
            set_cfa(rules, reg, c.sleb() * cie_.data_align);
            break;
          }
          case 0x13:  // def_cfa_offset_sf
            if (rules.cfa_kind == kCfaRsp || rules.cfa_kind == kCfaRbp)
              rules.cfa_off = static_cast<int32_t>(c.sleb() * cie_.data_align);
            else
              c.sleb();
            break;
          case 0x14:    // val_offset
          case 0x15: {  // val_offset_sf
            uint64_t reg = c.uleb();
            if (op == 0x14) c.uleb(); else c.sleb();
            set_register_other(rules, reg, false, false);
            break;
          }
          case 0x16: {  // val_expression
            uint64_t reg = c.uleb();
            uint64_t len = c.uleb();
            if (c.has(len)) c.p += len;
            set_register_other(rules, reg, false, false);
            break;
          }
          case 0x2e: c.uleb(); break;  // GNU_args_size
          case 0x2f: {                 // GNU_negative_offset_extended
            uint64_t reg = c.uleb();
            set_register_offset(rules, reg, -static_cast<int64_t>(c.uleb()) * cie_.data_align);
            break;
          }
          default: return false;  // unknown opcode: the rest cannot be trusted
        }
      }
      if (advance != 0) {
        // The rules so far hold from `loc` up to the new location.
        if (emit && loc < loc_end) emit_row(loc, rules);
        loc += advance;
      }
    }
    if (emit && c.ok && loc < loc_end) emit_row(loc, rules);
    return c.ok;
  }

  void emit_row(uint64_t loc, const Rules& r) {
    if (loc < base_ || loc - base_ > UINT32_MAX) return;
    FrameDesc d{};
    d.pc = static_cast<uint32_t>(loc - base_);
    d.cfa_kind = r.cfa_kind;
    d.cfa_off = r.cfa_off;
    d.rbp_off = r.rbp_off;
    d.flags = cie_.signal ? kFlagSignalFrame : 0;
    if (mark_start_) d.flags |= kFlagFdeStart;
    mark_start_ = false;
    if (r.cfa_kind == kCfaPlt) d.flags |= static_cast<uint8_t>(r.plt_threshold << 4);
    if (r.ra_undefined) d.cfa_kind = kCfaOutermost;
    else if (r.ra_unknown || r.rbp_unknown) d.cfa_kind = kCfaUnknown;
    if (!out_.empty() && out_.back().pc == d.pc) {
      d.flags |= out_.back().flags & kFlagFdeStart;
      out_.back() = d;  // a later rule for the same address wins
      return;
    }
    if (!out_.empty()) {
      const FrameDesc& b = out_.back();
      if (b.cfa_kind == d.cfa_kind && b.cfa_off == d.cfa_off && b.rbp_off == d.rbp_off &&
          (b.flags & ~kFlagFdeStart) == d.flags)
        return;  // same rule continues
    }
    out_.push_back(d);
  }

 private:
  static void restore(Rules& r, const Rules& initial, uint64_t reg) {
    if (reg == kRegRbp) {
      r.rbp_off = initial.rbp_off;
      r.rbp_unknown = initial.rbp_unknown;
    } else if (reg == kRegRa) {
      r.ra_undefined = initial.ra_undefined;
      r.ra_unknown = initial.ra_unknown;
    }
  }
  static void set_cfa(Rules& r, uint64_t reg, int64_t off, bool keep_off = false) {
    if (reg == kRegRsp) r.cfa_kind = kCfaRsp;
    else if (reg == kRegRbp) r.cfa_kind = kCfaRbp;
    else r.cfa_kind = kCfaUnknown;
    if (!keep_off) r.cfa_off = static_cast<int32_t>(off);
  }

  const Cie& cie_;
  uintptr_t base_;
  std::vector<FrameDesc>& out_;
  bool mark_start_ = false;
};

// Reads one length-prefixed entry; returns its body [p, end) or false.
bool entry_bounds(const uint8_t* at, const uint8_t** body, const uint8_t** end) {
  uint32_t len32;
  memcpy(&len32, at, 4);
  if (len32 == 0 || len32 == 0xffffffff) return false;  // terminator / 64-bit (unused)
  *body = at + 4;
  *end = at + 4 + len32;
  return true;
}

bool parse_cie(const uint8_t* at, Cie& cie) {
  const uint8_t* body;
  const uint8_t* end;
  if (!entry_bounds(at, &body, &end)) return false;
  Cursor c{body, end};
  if (c.fixed<uint32_t>() != 0) return false;  // CIE id
  uint8_t version = c.u8();
  if (version != 1 && version != 3) return false;
  const char* aug = reinterpret_cast<const char*>(c.p);
  size_t aug_len = strnlen(aug, end - c.p);
  c.p += aug_len + 1;
  if (aug_len >= 2 && aug[0] == 'e' && aug[1] == 'h') c.fixed<uint64_t>();
  cie.code_align = c.uleb();
  cie.data_align = c.sleb();
  cie.ra_reg = version == 1 ? c.u8() : c.uleb();
  if (aug_len > 0 && aug[0] == 'z') {
    cie.has_z = true;
    uint64_t len = c.uleb();
    const uint8_t* data_end = c.p + len;
    for (size_t i = 1; i < aug_len && c.ok; ++i) {
      switch (aug[i]) {
        case 'R': cie.fde_enc = c.u8(); break;
        case 'L': c.u8(); break;
        case 'P': {
          uint8_t enc = c.u8();
          c.pointer(enc & 0x7f);
          break;
        }
        case 'S': cie.signal = true; break;
        default: c.p = data_end; i = aug_len; break;  // unknown: skip the rest
      }
    }
    if (data_end > end) return false;
    c.p = data_end;
  } else if (aug_len > 0 && !(aug_len >= 2 && aug[0] == 'e' && aug[1] == 'h')) {
    return false;  // unknown augmentation without 'z': cannot skip it
  }
  if (!c.ok || cie.ra_reg != kRegRa) return false;
  cie.insns = c.p;
  cie.insns_end = end;
  cie.ok = true;
  return true;
}

}  // namespace

bool build_frame_table(const uint8_t* hdr, uintptr_t base, std::vector<FrameDesc>& out) {
  out.clear();
  if (hdr == nullptr || hdr[0] != 1) return false;
  uint8_t eh_frame_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
  Cursor c{hdr + 4, hdr + 4 + 64};
  uintptr_t hdr_addr = reinterpret_cast<uintptr_t>(hdr);
  c.pointer(eh_frame_enc, hdr_addr);
  if (count_enc == kPeOmit || table_enc != (kPeDatarel | kPeSdata4)) return false;
  uint64_t count = c.pointer(count_enc, hdr_addr);
  if (!c.ok || count > (1u << 24)) return false;
  const int32_t* table = reinterpret_cast<const int32_t*>(c.p);

  // CIEs are shared by many FDEs: parse each once (keyed by address).
  std::vector<std::pair<const uint8_t*, Cie>> cies;
  auto cie_at = [&](const uint8_t* at) -> const Cie* {
    for (auto it = cies.rbegin(); it != cies.rend(); ++it)
      if (it->first == at) return &it->second;
    Cie cie;
    if (!parse_cie(at, cie)) cie.ok = false;
    else {
      Rules initial;
      Program prog(cie, base, out);
      uint64_t loc = 0;
      if (!prog.run(cie.insns, cie.insns_end, initial, loc, 0, false)) cie.ok = false;
      cie.initial = initial;
    }
    if (cies.size() > 64) cies.erase(cies.begin());
    cies.emplace_back(at, cie);
    return &cies.back().second;
  };

  out.reserve(count * 3);
  uint64_t prev_end = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* fde = reinterpret_cast<const uint8_t*>(hdr_addr + table[2 * i + 1]);
    const uint8_t* body;
    const uint8_t* end;
    if (!entry_bounds(fde, &body, &end)) continue;
    Cursor f{body, end};
    uint32_t cie_off = f.fixed<uint32_t>();
    if (cie_off == 0) continue;  // a CIE, not an FDE
    const Cie* cie = cie_at(body - cie_off);
    if (!cie->ok) continue;
    uint64_t pc_begin = f.pointer(cie->fde_enc);
    uint64_t pc_range = f.pointer(cie->fde_enc & 0x0f);
    if (cie->has_z) {
      uint64_t len = f.uleb();
      f.p += len;
    }
    if (!f.ok || f.p > end) continue;
    // A gap between the previous FDE and this one: no CFI there.
    if (prev_end != 0 && pc_begin > prev_end) {
      Rules none;
      none.cfa_kind = kCfaNoCfi;
      Program gap(*cie, base, out);
      gap.emit_row(prev_end, none);
    }
    Rules rules = cie->initial;
    Program prog(*cie, base, out);
    prog.mark_fde_start();
    uint64_t loc = pc_begin;
    if (!prog.run(f.p, end, rules, loc, pc_begin + pc_range, true)) {
      // A program we cannot follow: rows before the failing address stand, the rest is
      // unknown (the walk ends there rather than guessing).
      Rules unknown;
      unknown.cfa_kind = kCfaUnknown;
      prog.emit_row(loc, unknown);
    }
    Rules none;
    none.cfa_kind = kCfaNoCfi;
    prog.emit_row(pc_begin + pc_range, none);
    prev_end = pc_begin + pc_range;
  }
  // The header's table is sorted by pc_begin, and rows within an FDE ascend; overlapping
  // FDEs (rare) could leave rows out of order: sort, keeping the later row for equal PCs.
  std::stable_sort(out.begin(), out.end(),
                   [](const FrameDesc& a, const FrameDesc& b) { return a.pc < b.pc; });
  size_t w = 0;
  for (size_t r = 0; r < out.size(); ++r) {
    if (w > 0 && out[w - 1].pc == out[r].pc) out[w - 1] = out[r];
    else out[w++] = out[r];
  }
  out.resize(w);
  return true;
}

}  // namespace profagent
