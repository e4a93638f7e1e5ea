// DWARF call-frame information (.eh_frame) to FrameDesc rows, with the interpreter of
// cfi_program.h. NORMAL CONTEXT ONLY: runs on the agent thread (or at init, or at a short
// process's exit) inside a dl_iterate_phdr callback, so the module stays mapped while we read
// it; allocates freely.
#include "agent/runtime/unwind/dwarf_cfi.h"

#include <algorithm>
#include <cstring>

#include "agent/runtime/unwind/cfi_program.h"

namespace profagent {
namespace {

using cfi::Cie;
using cfi::Cursor;
using cfi::Rules;

// Appends an FDE's rows to a table: PCs as offsets from `base` (code outside the 4 GiB from
// it is left out), a row that repeats the one before merged into it.
class TableSink final : public cfi::RowSink {
 public:
  TableSink(const Cie& cie, uintptr_t base, std::vector<FrameDesc>& out)
      : cie_(cie), base_(base), out_(out) {}

  // The next row emitted is an FDE's first (its function's start address).
  void mark_fde_start() { mark_start_ = true; }

  bool row(uint64_t loc, const Rules& r) override {
    if (loc < base_ || loc - base_ > UINT32_MAX) return true;
    FrameDesc d = cfi::frame_desc_of(cie_, r, static_cast<uint32_t>(loc - base_));
    if (mark_start_) d.flags |= kFlagFdeStart;
    mark_start_ = false;
    if (!out_.empty() && out_.back().pc == d.pc) {
      d.flags |= out_.back().flags & kFlagFdeStart;
      out_.back() = d;  // a later rule for the same address wins
      return true;
    }
    if (!out_.empty()) {
      const FrameDesc& b = out_.back();
      if (b.cfa_kind == d.cfa_kind && b.cfa_off == d.cfa_off && b.rbp_off == d.rbp_off &&
          (b.flags & ~kFlagFdeStart) == d.flags)
        return true;  // same rule continues
    }
    out_.push_back(d);
    return true;
  }

 private:
  const Cie& cie_;
  uintptr_t base_;
  std::vector<FrameDesc>& out_;
  bool mark_start_ = false;
};

Rules rules_of_kind(CfaKind kind) {
  Rules r;
  r.cfa_kind = kind;
  return r;
}

}  // namespace

namespace {

// The header's FDE count and the start of its search table; count 0 when the header is
// malformed or unsupported.
struct SearchTable {
  uint64_t count = 0;
  const int32_t* table = nullptr;
};

SearchTable search_table(const uint8_t* hdr) {
  if (hdr == nullptr || hdr[0] != 1) return {};
  uint8_t eh_frame_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
  Cursor c{hdr + 4, hdr + 4 + 64};
  uintptr_t hdr_addr = reinterpret_cast<uintptr_t>(hdr);
  c.pointer(eh_frame_enc, hdr_addr);
  if (count_enc == cfi::kPeOmit || table_enc != (cfi::kPeDatarel | cfi::kPeSdata4)) return {};
  uint64_t count = c.pointer(count_enc, hdr_addr);
  if (!c.ok || count > (1u << 24)) return {};
  return {count, reinterpret_cast<const int32_t*>(c.p)};
}

}  // namespace

uint64_t frame_table_entry_count(const uint8_t* hdr) { return search_table(hdr).count; }

bool build_frame_table(const uint8_t* hdr, uintptr_t base, std::vector<FrameDesc>& out) {
  out.clear();
  const SearchTable search = search_table(hdr);
  if (search.count == 0) return false;
  const uint64_t count = search.count;
  const int32_t* table = search.table;
  const uintptr_t hdr_addr = reinterpret_cast<uintptr_t>(hdr);

  // CIEs are shared by many FDEs: parse each once (keyed by address).
  std::vector<std::pair<const uint8_t*, Cie>> cies;
  auto cie_at = [&](const uint8_t* at) -> const Cie* {
    for (auto it = cies.rbegin(); it != cies.rend(); ++it)
      if (it->first == at) return &it->second;
    Cie cie;
    const uint8_t* body;
    const uint8_t* end;
    if (!cfi::entry_bounds(at, &body, &end) || !cfi::parse_cie(body, end, 0, cie)) cie.ok = false;
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
    if (!cfi::entry_bounds(fde, &body, &end)) continue;
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
    TableSink sink(*cie, base, out);
    // A gap between the previous FDE and this one: no CFI there.
    if (prev_end != 0 && pc_begin > prev_end) sink.row(prev_end, rules_of_kind(kCfaNoCfi));
    Rules rules = cie->initial;
    sink.mark_fde_start();
    uint64_t loc = pc_begin;
    if (!cfi::run_program(*cie, f.p, end, 0, rules, loc, pc_begin + pc_range, &sink)) {
      // A program we cannot follow: rows before the failing address stand, the rest is
      // unknown (the walk ends there rather than guessing).
      sink.row(loc, rules_of_kind(kCfaUnknown));
    }
    sink.row(pc_begin + pc_range, rules_of_kind(kCfaNoCfi));
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
