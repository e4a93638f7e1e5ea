// The DW_CFA interpreter (see cfi_program.h). BOTH CONTEXTS (normal and signal): no
// allocation, no locks, no system calls; every read is checked against the bytes given.
#include "agent/runtime/unwind/cfi_program.h"

namespace profagent::cfi {

uint64_t Cursor::uleb() {
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

int64_t Cursor::sleb() {
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

uint64_t Cursor::pointer(uint8_t enc, uintptr_t data_base) {
  if (enc == kPeOmit) return 0;
  uintptr_t here = reinterpret_cast<uintptr_t>(p) + bias;
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

namespace {

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

void restore(Rules& r, const Rules& initial, uint64_t reg) {
  if (reg == kRegRbp) {
    r.rbp_off = initial.rbp_off;
    r.rbp_unknown = initial.rbp_unknown;
  } else if (reg == kRegRa) {
    r.ra_undefined = initial.ra_undefined;
    r.ra_unknown = initial.ra_unknown;
  }
}

void set_cfa(Rules& r, uint64_t reg, int64_t off, bool keep_off = false) {
  if (reg == kRegRsp) r.cfa_kind = kCfaRsp;
  else if (reg == kRegRbp) r.cfa_kind = kCfaRbp;
  else r.cfa_kind = kCfaUnknown;
  if (!keep_off) r.cfa_off = static_cast<int32_t>(off);
}

}  // namespace

bool run_program(const Cie& cie, const uint8_t* insns, const uint8_t* end, intptr_t bias,
                 Rules& rules, uint64_t& loc, uint64_t loc_end, RowSink* sink) {
  Cursor c{insns, end, bias};
  Rules stack[16];
  int depth = 0;
  const Rules& initial = cie.initial;
  while (c.ok && c.p < c.end) {
    uint8_t op = c.u8();
    uint8_t high = op & 0xc0, low = op & 0x3f;
    uint64_t advance = 0;
    if (high == 0x40) {
      advance = low * cie.code_align;
    } else if (high == 0x80) {
      set_register_offset(rules, low, static_cast<int64_t>(c.uleb()) * cie.data_align);
    } else if (high == 0xc0) {
      restore(rules, initial, low);
    } else {
      switch (op) {
        case 0x00: break;  // nop
        case 0x01: {       // set_loc
          uint64_t to = c.pointer(cie.fde_enc);
          if (to > loc) advance = to - loc;
          break;
        }
        case 0x02: advance = c.u8() * cie.code_align; break;
        case 0x03: advance = c.fixed<uint16_t>() * cie.code_align; break;
        case 0x04: advance = c.fixed<uint32_t>() * cie.code_align; break;
        case 0x05: {  // offset_extended
          uint64_t reg = c.uleb();
          set_register_offset(rules, reg, static_cast<int64_t>(c.uleb()) * cie.data_align);
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
        case 0x10:    // expression
        case 0x11: {  // offset_extended_sf
          uint64_t reg = c.uleb();
          set_register_offset(rules, reg, c.sleb() * cie.data_align);
          break;
        }
        case 0x12: {  // def_cfa_sf
          uint64_t reg = c.uleb();
          set_cfa(rules, reg, c.sleb() * cie.data_align);
          break;
        }
        case 0x13:  // def_cfa_offset_sf
          if (rules.cfa_kind == kCfaRsp || rules.cfa_kind == kCfaRbp)
            rules.cfa_off = static_cast<int32_t>(c.sleb() * cie.data_align);
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
        case 0x2e: c.uleb(); break;  // GNU_args_size
        case 0x2f: {                 // GNU_negative_offset_extended
          uint64_t reg = c.uleb();
          set_register_offset(rules, reg, -static_cast<int64_t>(c.uleb()) * cie.data_align);
          break;
        }
        default: return false;  // unknown opcode: the rest cannot be trusted
      }
    }
    if (advance != 0) {
      // The rules so far hold from `loc` up to the new location.
      if (sink != nullptr && loc < loc_end && !sink->row(loc, rules)) return c.ok;
      loc += advance;
    }
  }
  if (sink != nullptr && c.ok && loc < loc_end) sink->row(loc, rules);
  return c.ok;
}

bool entry_bounds(const uint8_t* at, const uint8_t** body, const uint8_t** end) {
  uint32_t len32;
  memcpy(&len32, at, 4);
  if (len32 == 0 || len32 == 0xffffffff) return false;  // terminator / 64-bit (unused)
  *body = at + 4;
  *end = at + 4 + len32;
  return true;
}

bool parse_cie(const uint8_t* body, const uint8_t* end, intptr_t bias, Cie& cie) {
  cie = Cie{};
  Cursor c{body, end, bias};
  if (c.fixed<uint32_t>() != 0) return false;  // CIE id
  uint8_t version = c.u8();
  if (version != 1 && version != 3) return false;
  if (!c.has(1)) return false;
  const char* aug = reinterpret_cast<const char*>(c.p);
  size_t aug_len = strnlen(aug, end - c.p);
  if (aug_len == static_cast<size_t>(end - c.p)) return false;  // unterminated
  c.p += aug_len + 1;
  if (aug_len >= 2 && aug[0] == 'e' && aug[1] == 'h') c.fixed<uint64_t>();
  cie.code_align = c.uleb();
  cie.data_align = c.sleb();
  cie.ra_reg = version == 1 ? c.u8() : c.uleb();
  if (aug_len > 0 && aug[0] == 'z') {
    cie.has_z = true;
    uint64_t len = c.uleb();
    if (!c.ok || len > static_cast<uint64_t>(end - c.p)) return false;
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
    c.p = data_end;
  } else if (aug_len > 0 && !(aug_len >= 2 && aug[0] == 'e' && aug[1] == 'h')) {
    return false;  // unknown augmentation without 'z': cannot skip it
  }
  if (!c.ok || cie.ra_reg != kRegRa) return false;
  cie.insns = c.p;
  cie.insns_end = end;
  cie.bias = bias;
  Rules initial;
  uint64_t loc = 0;
  if (!run_program(cie, cie.insns, cie.insns_end, bias, initial, loc, 0, nullptr)) return false;
  cie.initial = initial;
  cie.ok = true;
  return true;
}

FrameDesc frame_desc_of(const Cie& cie, const Rules& r, uint32_t pc_offset) {
  FrameDesc d{};
  d.pc = pc_offset;
  d.cfa_kind = r.cfa_kind;
  d.cfa_off = r.cfa_off;
  d.rbp_off = r.rbp_off;
  d.flags = cie.signal ? kFlagSignalFrame : 0;
  if (r.cfa_kind == kCfaPlt) d.flags |= static_cast<uint8_t>(r.plt_threshold << 4);
  if (r.ra_undefined) d.cfa_kind = kCfaOutermost;
  else if (r.ra_unknown || r.rbp_unknown) d.cfa_kind = kCfaUnknown;
  return d;
}

}  // namespace profagent::cfi
