// One PC's unwind row from its object's own .eh_frame_hdr search table and .eh_frame (see
// fde_lookup.h). SIGNAL CONTEXT: no allocation, no locks. Objects that may be unloaded are
// copied with process_vm_readv (a short or failed read ends the lookup); every entry is
// parsed from a bounded copy with the checked interpreter of cfi_program.h.
#include "agent/runtime/unwind/fde_lookup.h"

#include <dlfcn.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/runtime/unwind/stack_walk.h"

namespace profagent {
namespace {

using cfi::Cie;
using cfi::Cursor;
using cfi::Rules;

// The link maps of objects known to stay loaded as long as this agent does: the program, the
// dynamic loader, libc (this agent's dependencies) and the agent itself. (Others loaded at
// start stay too, but nothing cheap tells them from a dlopen'ed library.) A miss (a non-PIE
// program whose &getauxval is its own PLT entry) only costs system calls. Found at the first
// lookup (_dl_find_object and getauxval are async-signal-safe); two handlers racing to fill
// them write the same values.
constexpr int kPinned = 4;
std::atomic<const void*> g_pinned[kPinned];
std::atomic<bool> g_pinned_known{false};

const void* link_map_of(uintptr_t address) noexcept {
  dl_find_object found;
  if (address == 0 || _dl_find_object(reinterpret_cast<void*>(address), &found) != 0)
    return nullptr;
  return found.dlfo_link_map;
}

bool never_unloaded(const void* link_map) noexcept {
  if (!g_pinned_known.load(std::memory_order_acquire)) {
    const uintptr_t addresses[kPinned] = {
        getauxval(AT_ENTRY), getauxval(AT_BASE),
        reinterpret_cast<uintptr_t>(&getauxval),  // libc
        reinterpret_cast<uintptr_t>(&link_map_of)};
    for (int i = 0; i < kPinned; ++i)
      g_pinned[i].store(link_map_of(addresses[i]), std::memory_order_relaxed);
    g_pinned_known.store(true, std::memory_order_release);
  }
  for (const auto& pinned : g_pinned)
    if (link_map != nullptr && pinned.load(std::memory_order_relaxed) == link_map) return true;
  return false;
}

// Copies bytes of the object: in place when it can never be unloaded, else through
// process_vm_readv on our own pid (looked up once per walk, kept in the cache).
class ObjectBytes {
 public:
  ObjectBytes(bool in_place, int& pid) : in_place_(in_place), pid_(pid) {}
  bool in_place() const { return in_place_; }
  bool read(uintptr_t addr, void* out, size_t n) noexcept { return read_up_to(addr, out, n, n) == n; }
  // As much of [addr, addr + n) as is readable, at least `need` bytes; the count, or 0.
  size_t read_up_to(uintptr_t addr, void* out, size_t n, size_t need) noexcept {
    if (in_place_) {
      memcpy(out, reinterpret_cast<const void*>(addr), n);
      return n;
    }
    if (pid_ == 0) pid_ = static_cast<int>(syscall(SYS_getpid));
    size_t got = 0;
    if (!process_vm_read(pid_, addr, out, n, &got) || got < need) return 0;
    return got;
  }

 private:
  bool in_place_;
  int& pid_;
};

// The largest FDE copied (a longer one, a large function's many push/pop rules, is followed
// as far as its copy goes: a PC past that gets kCfaUnknown) and the largest CIE.
constexpr size_t kFdeBytes = 512;
constexpr size_t kCieBytes = 128;
// Search-table entries read at once: (initial location, FDE), datarel sdata4 from the header.
constexpr uint64_t kBatch = 64;

int64_t entry_loc(const int32_t* entries, uint64_t i) { return entries[2 * i]; }

// The FDE address of the last search-table entry at or below pc. The entries are sorted by
// location and mostly spread evenly over the code: each read takes kBatch entries around
// where pc falls by interpolation (one or two reads instead of a bisection's ten).
enum class Search { kFound, kNone, kUnreadable };
Search find_fde_address(ObjectBytes& bytes, const RowLookupCache& o, uintptr_t pc,
                        uintptr_t* fde) noexcept {
  int32_t entries[2 * kBatch];
  uint64_t lo = 0, hi = o.count;  // the answer a is in [lo, hi); loc(lo) <= pc when lo > 0
  uint64_t lo_loc = o.hdr + static_cast<int64_t>(o.first_loc);
  uint64_t hi_loc = o.hdr + static_cast<int64_t>(o.last_loc);  // loc(hi - 1) until hi moves
  if (pc < lo_loc) return Search::kNone;  // below the object's first FDE
  if (pc >= hi_loc) lo = hi - 1;  // the last FDE's
  bool have = false;  // entries[] holds [lo, hi) already
  for (int round = 0; hi - lo > kBatch; ++round) {
    uint64_t guess;
    if (round < 4 && hi_loc > lo_loc) {
      guess = lo + static_cast<uint64_t>(static_cast<double>(pc - lo_loc) /
                                         static_cast<double>(hi_loc - lo_loc) *
                                         static_cast<double>(hi - lo));
    } else {
      guess = lo + (hi - lo) / 2;  // interpolation did not converge: bisect
    }
    uint64_t start = guess > lo + kBatch / 2 ? guess - kBatch / 2 : lo;
    if (start + kBatch > hi) start = hi - kBatch;
    if (!bytes.read(o.table + start * 8, entries, sizeof entries)) return Search::kUnreadable;
    uint64_t first = o.hdr + entry_loc(entries, 0);
    uint64_t last = o.hdr + entry_loc(entries, kBatch - 1);
    if (first > pc) {
      hi = start;
      hi_loc = first;
    } else if (last <= pc) {
      lo = start + kBatch - 1;
      lo_loc = last;
    } else {
      lo = start;
      hi = start + kBatch;
      have = true;  // in this batch
      break;
    }
  }
  if (!have && !bytes.read(o.table + lo * 8, entries, (hi - lo) * 8)) return Search::kUnreadable;
  uint64_t found = 0;
  for (uint64_t i = 0; i < hi - lo; ++i) {
    if (o.hdr + entry_loc(entries, i) > pc) break;
    found = i + 1;
  }
  if (found == 0) return Search::kNone;
  *fde = o.hdr + static_cast<int64_t>(entries[2 * (found - 1) + 1]);
  return Search::kFound;
}

// Fills the cache's object fields for the object `found` (its search table): kNone when it
// has none we can use (as the table builder, which then gives it no rows), kUnreadable when
// its bytes could not be read.
Search load_object(const dl_find_object& found, RowLookupCache& o) noexcept {
  o.map_lo = 0;
  o.cie_at = 0;
  const auto hdr = reinterpret_cast<uintptr_t>(found.dlfo_eh_frame);
  if (hdr == 0) return Search::kNone;
  o.in_place = never_unloaded(found.dlfo_link_map);
  ObjectBytes bytes(o.in_place, o.pid);
  // Version 1, the table as datarel sdata4 pairs (what every linker writes; anything else
  // gets no rule, as in the table builder), then the first entry's location.
  constexpr size_t kHeaderBytes = 4 + 8 + 8 + 4;
  uint8_t head[kHeaderBytes];
  size_t got = bytes.read_up_to(hdr, head, 4, 4);  // in place: no more than the header's
  if (got == 0) return Search::kUnreadable;
  if (head[0] != 1 || head[2] == cfi::kPeOmit || head[3] != (cfi::kPeDatarel | cfi::kPeSdata4))
    return Search::kNone;
  // The pointers (udata4 or sdata4 as linkers write them: exactly 16 bytes with the first
  // location, never past the table read in place; 8-byte ones at most 24) and the first
  // location.
  auto four_bytes = [](uint8_t enc) { return (enc & 0x07) == 0x03; };  // udata4, sdata4
  const size_t want = four_bytes(head[1]) && four_bytes(head[2]) ? 16 : sizeof head;
  got = bytes.read_up_to(hdr, head, want, 16);
  if (got == 0) return Search::kUnreadable;
  Cursor c{head + 4, head + got, static_cast<intptr_t>(hdr - reinterpret_cast<uintptr_t>(head))};
  c.pointer(head[1], hdr);
  uint64_t count = c.pointer(head[2], hdr);
  if (!c.ok || count == 0 || count > (1u << 24)) return Search::kNone;
  int32_t first_loc = c.fixed<int32_t>();
  if (!c.ok) return Search::kNone;
  o.table = hdr + static_cast<uintptr_t>(c.p - head) - 4;
  int32_t last_loc;
  if (!bytes.read(o.table + (count - 1) * 8, &last_loc, sizeof last_loc))
    return Search::kUnreadable;
  o.hdr = hdr;
  o.count = count;
  o.first_loc = static_cast<uint64_t>(static_cast<int64_t>(first_loc));
  o.last_loc = static_cast<uint64_t>(static_cast<int64_t>(last_loc));
  o.map_hi = reinterpret_cast<uintptr_t>(found.dlfo_map_end);
  o.map_lo = reinterpret_cast<uintptr_t>(found.dlfo_map_start);
  return Search::kFound;
}

// Copies the .eh_frame entry at `at` into buf (room + 4 bytes): its length word, then up to
// `room` bytes of its body at buf + 4. Returns the body bytes copied, 0 on failure;
// *length is the body's whole length. Read in place, the length first (reading past the
// entry could leave the mapping); through the kernel, at once (a read past the mapping comes
// back short, which is fine).
size_t copy_entry(ObjectBytes& bytes, uintptr_t at, uint8_t* buf, size_t room,
                  uint32_t* length) noexcept {
  constexpr size_t kLeast = 8;  // a CIE's id and version, an FDE's CIE pointer and more
  size_t got;
  if (bytes.in_place()) {
    memcpy(length, reinterpret_cast<const void*>(at), sizeof *length);
    if (*length == 0xffffffff || *length < kLeast) return 0;
    got = *length < room ? *length : room;
    memcpy(buf + 4, reinterpret_cast<const void*>(at + 4), got);
  } else {
    got = bytes.read_up_to(at, buf, 4 + room, 4 + kLeast);
    if (got == 0) return 0;
    memcpy(length, buf, sizeof *length);
    got -= 4;
    if (got > *length) got = *length;
  }
  if (*length == 0xffffffff || *length < kLeast) return 0;  // 64-bit entries are not used
  return got;
}

// The CIE at `at`, parsed into the cache (kept for the next FDE that shares it).
bool load_cie(ObjectBytes& bytes, uintptr_t at, RowLookupCache& o) noexcept {
  if (o.cie_at == at) return true;
  o.cie_at = 0;
  alignas(8) uint8_t buf[4 + kCieBytes];
  uint32_t len;
  size_t got = copy_entry(bytes, at, buf, kCieBytes, &len);
  if (got == 0 || got < len) return false;  // a CIE is read whole
  // (The parsed CIE keeps pointers into buf only for its own instructions, already run.)
  const uint8_t* body = buf + 4;
  if (!cfi::parse_cie(body, body + got,
                      static_cast<intptr_t>(at + 4 - reinterpret_cast<uintptr_t>(body)), o.cie))
    return false;
  o.cie.insns = o.cie.insns_end = nullptr;  // they pointed into buf, run already
  o.cie_at = at;
  return true;
}

// Keeps the rule in force at `pc_` and where it holds: stops the program at the first row
// past it.
class RowAt final : public cfi::RowSink {
 public:
  explicit RowAt(uint64_t pc) : pc_(pc) {}
  bool row(uint64_t loc, const Rules& rules) override {
    if (loc > pc_) {
      hi_ = loc;
      return false;
    }
    rules_ = rules;
    lo_ = loc;
    found_ = true;
    return true;
  }
  bool found() const { return found_; }
  const Rules& rules() const { return rules_; }
  uint64_t lo() const { return lo_; }
  uint64_t hi() const { return hi_; }  // 0 while no row past pc was seen

 private:
  uint64_t pc_;
  Rules rules_;
  uint64_t lo_ = 0, hi_ = 0;
  bool found_ = false;
};

}  // namespace

RowWithoutTables find_row_without_tables(uintptr_t lookup, uintptr_t return_address,
                                         RowLookupCache& o) noexcept {
  RowWithoutTables out;
  // Bytes that could not be read or followed end the walk (kCfaUnknown), never a guess
  // through rbp: a truncated stack beats a wrong one. No FDE for the PC is "no CFI", as in
  // the tables.
  auto unknown = [&out] {
    out.has_desc = true;
    out.desc = FrameDesc{};
    out.desc.cfa_kind = kCfaUnknown;
    out.row_lo = out.row_hi = 0;
    out.unreadable = true;
    return out;
  };
  if (o.map_lo == 0 || lookup < o.map_lo || lookup >= o.map_hi) {
    dl_find_object found;
    if (_dl_find_object(reinterpret_cast<void*>(lookup), &found) != 0) {
      o.map_lo = 0;
      return out;
    }
    out.in_object = true;
    switch (load_object(found, o)) {
      case Search::kFound: break;
      case Search::kNone: return out;
      case Search::kUnreadable: return unknown();
    }
  }
  out.in_object = true;
  ObjectBytes bytes(o.in_place, o.pid);
  uintptr_t fde;
  switch (find_fde_address(bytes, o, lookup, &fde)) {
    case Search::kFound: break;
    case Search::kNone: return out;
    case Search::kUnreadable: return unknown();
  }
  // The FDE (up to kFdeBytes of it), then its CIE.
  alignas(8) uint8_t buf[4 + kFdeBytes];
  uint32_t len;
  size_t got = copy_entry(bytes, fde, buf, kFdeBytes, &len);
  if (got == 0) return unknown();
  const bool cut = got < len;
  const uint8_t* body = buf + 4;
  uint32_t cie_offset;
  memcpy(&cie_offset, body, sizeof cie_offset);
  if (cie_offset == 0 || !load_cie(bytes, fde + 4 - cie_offset, o)) return unknown();
  const Cie& cie = o.cie;
  const intptr_t bias = static_cast<intptr_t>(fde + 4 - reinterpret_cast<uintptr_t>(body));
  Cursor f{body + 4, body + got, bias};  // past the CIE pointer
  uint64_t pc_begin = f.pointer(cie.fde_enc);
  uint64_t pc_range = f.pointer(cie.fde_enc & 0x0f);
  if (cie.has_z) {
    uint64_t aug = f.uleb();
    if (f.ok && aug <= static_cast<uint64_t>(f.end - f.p)) f.p += aug;
    else f.ok = false;
  }
  if (!f.ok) return unknown();
  if (lookup < pc_begin || lookup - pc_begin >= pc_range) return out;  // no FDE here

  RowAt at(lookup);
  Rules rules = cie.initial;
  uint64_t loc = pc_begin;
  bool followed = cfi::run_program(cie, f.p, f.end, bias, rules, loc, pc_begin + pc_range, &at);
  if (!at.found()) return unknown();  // failed before its first row, as the table's
  // The rule at pc is complete once the program advanced past pc: by a row the sink saw, or
  // by the last advance before the program failed or its copy ended. Otherwise the walk ends
  // here, as the table builder's kCfaUnknown row makes it.
  uint64_t hi = at.hi();
  if (hi == 0 && loc > lookup) hi = loc;
  if (hi == 0 && (cut || !followed)) return unknown();
  if (hi == 0) hi = pc_begin + pc_range;
  out.has_desc = true;
  out.desc = cfi::frame_desc_of(cie, at.rules(), 0);
  out.row_lo = at.lo() > o.map_lo ? at.lo() : o.map_lo;
  out.row_hi = hi < o.map_hi ? hi : o.map_hi;
  if (return_address != 0 && (out.desc.flags & kFlagSignalFrame) != 0) {
    unsigned char code[sizeof kSigreturnCode];
    out.sigreturn = bytes.read(return_address, code, sizeof code) &&
                    memcmp(code, kSigreturnCode, sizeof code) == 0;
  }
  return out;
}

}  // namespace profagent
