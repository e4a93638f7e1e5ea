// Building and publishing the module unwind tables (see unwind_tables.h). The refresh runs in
// NORMAL CONTEXT only, serialised by its own mutex (never taken by a walk). The lookups at the
// bottom run in SIGNAL/HOOK CONTEXT: atomic loads and binary searches over immutable memory.
#include "agent/runtime/unwind/unwind_tables.h"

#include <link.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <new>
#include <vector>

#include "agent/core/clock.h"
#include "agent/core/contained.h"
#include "agent/core/fork_gate.h"
#include "agent/core/futex.h"
#include "agent/core/log.h"
#include "agent/core/sample_path.h"
#include "agent/core/code_layout.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/runtime/unwind/dwarf_cfi.h"
#include "agent/runtime/unwind/unwind_cache.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {


constinit std::atomic<const UnwindModuleSet*> g_set{nullptr};
constinit std::atomic<bool> g_rescan{false};
constinit std::atomic<bool> g_wanted{false};  // want_unwind_tables: a walk is waiting
constinit std::atomic<bool> g_rebuild{false};
constinit std::atomic<int64_t> g_first_published_nanos{0};  // monotonic; 0: none yet
constinit std::atomic<uint32_t> g_published{0};  // futex word: bumped at each publication  // republish: a cached table's check settled
constinit std::atomic<unsigned long long> g_adds{0}, g_subs{0};

// Agent-owned memory that is never unmapped (walks may hold pointers into it).
PROFAGENT_START_PATH
void* map_forever(size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

struct Scan {
  const UnwindModuleSet* old;
  std::vector<UnwindModule> found;
  bool unchanged = false;
  bool first = true;
  bool forced = false;  // scan even if the loader's lists did not change
};

// The previous set's entry for the same object, if any.
PROFAGENT_START_PATH
const UnwindModule* previous(const UnwindModuleSet* old, const UnwindModule& m) {
  if (old == nullptr) return nullptr;
  for (uint32_t i = 0; i < old->count; ++i) {
    const UnwindModule& o = old->modules[i];
    if (o.base == m.base && o.load_bias == m.load_bias && o.phdr == m.phdr &&
        o.fingerprint == m.fingerprint)
      return &o;
  }
  return nullptr;
}

// What tells one loaded object's code from another's at the same address: its GNU build id
// when it has one (a few bytes of its note, already read to name its cached table), else an
// FNV-1a of its .eh_frame_hdr and sorted FDE table (in the usual encodings: udata4 count,
// datarel sdata4 pairs; otherwise its first 64 bytes), which changes whenever the code layout
// does. Hashing the FDE tables of every library (libc's and libstdc++'s are tens of KiB) was
// most of a process's start-up cost in the walker. Normal context; reads the object's own
// mapped memory.
PROFAGENT_START_PATH
uint64_t module_fingerprint(const std::string& build_id, const uint8_t* hdr) {
  if (!build_id.empty()) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : build_id) h = (h ^ c) * 0x100000001b3ULL;
    return h ^ 1;  // never equal to a table hash of the same bytes' length
  }
  if (hdr == nullptr) return 0;
  size_t bytes = 64;
  if (hdr[0] == 1 && hdr[2] == 0x03 && hdr[3] == 0x3b) {
    uint32_t count;
    memcpy(&count, hdr + 8, sizeof count);
    bytes = 12 + size_t{8} * count;
  }
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < bytes; ++i) h = (h ^ hdr[i]) * 0x100000001b3ULL;
  return h ^ bytes;
}

// An object's code as the published set holds it: the span of its executable segments (none
// when hi <= lo) and its loaded .eh_frame_hdr (nullptr without one). Normal context; reads
// the object's own program headers.
struct ObjectCode {
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  const uint8_t* eh_frame_hdr = nullptr;
  bool has_code() const { return hi > lo; }
  size_t table_pages() const { return ((hi - lo) >> kUnwindPageShift) + 2; }  // index entries
};

PROFAGENT_START_PATH
ObjectCode code_of(const dl_phdr_info* info) {
  ObjectCode code;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X)) {
      code.lo = std::min<uintptr_t>(code.lo, info->dlpi_addr + ph.p_vaddr);
      code.hi = std::max<uintptr_t>(code.hi, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      code.eh_frame_hdr = reinterpret_cast<const uint8_t*>(info->dlpi_addr + ph.p_vaddr);
    }
  }
  return code;
}

// Calls fn(lo, hi) for each executable segment with bytes: the set has one entry per segment,
// so a range never covers a gap between them (the walk reads code bytes inside a range).
// fn returns false to stop (and this returns false).
template <typename Fn>
bool for_each_code_segment(const dl_phdr_info* info, Fn&& fn) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || ph.p_memsz == 0) continue;
    const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    if (!fn(lo, lo + ph.p_memsz)) return false;
  }
  return true;
}

PROFAGENT_START_PATH
int scan_object(dl_phdr_info* info, size_t size, void* data) {
  auto* scan = static_cast<Scan*>(data);
  if (scan->first) {
    scan->first = false;
    if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs) &&
        scan->old != nullptr && !scan->forced && info->dlpi_adds == g_adds.load() &&
        info->dlpi_subs == g_subs.load()) {
      scan->unchanged = true;
      return 1;
    }
    g_adds.store(info->dlpi_adds);
    g_subs.store(info->dlpi_subs);
  }
  UnwindModule m{};
  m.load_bias = info->dlpi_addr;
  m.phdr = info->dlpi_phdr;
  const ObjectCode code = code_of(info);
  if (!code.has_code()) return 0;
  const uintptr_t lo = code.lo, hi = code.hi;
  const uint8_t* eh_frame_hdr = code.eh_frame_hdr;
  m.base = lo;
  std::string build_id = loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
  m.fingerprint = module_fingerprint(build_id, eh_frame_hdr);
  const UnwindModule* old = previous(scan->old, m);
  // A cached table whose checksum failed at its first use is built anew (and the cache file
  // replaced); any other table of the same object is reused as it is.
  bool cache_failed = old != nullptr && table_check_failed(old->check);
  if (old != nullptr && !cache_failed) {
    m.rows = old->rows;
    m.row_count = old->row_count;
    m.page_first_row = old->page_first_row;
    m.page_count = old->page_count;
    bool passed = old->check != nullptr &&
                  old->check->state.load(std::memory_order_acquire) == TableCheck::kPassed;
    m.check = passed ? nullptr : old->check;  // checked once: lookups skip the state
  } else if (eh_frame_hdr != nullptr) {
    const size_t pages = code.table_pages();
    CachedTable cached;
    if (!cache_failed) cached = load_unwind_table(build_id, hi - lo, pages);
    if (cached.rows != nullptr) {  // built by an earlier process: mapped, not rebuilt
      m.rows = cached.rows;
      m.row_count = cached.row_count;
      m.page_first_row = cached.page_first_row;
      m.page_count = static_cast<uint32_t>(pages);
      m.check = cached.check;
    } else {
      std::vector<FrameDesc> rows;
      if (build_frame_table(eh_frame_hdr, lo, rows) && !rows.empty()) {
        size_t rows_bytes = (rows.size() * sizeof(FrameDesc) + 7) & ~size_t{7};
        void* mem = map_forever(rows_bytes + pages * sizeof(uint32_t));
        if (mem != nullptr) {
          memcpy(mem, rows.data(), rows.size() * sizeof(FrameDesc));
          auto* index = reinterpret_cast<uint32_t*>(static_cast<char*>(mem) + rows_bytes);
          uint32_t r = 0;
          for (size_t p = 0; p < pages; ++p) {
            uint64_t page_start = static_cast<uint64_t>(p) << kUnwindPageShift;
            while (r + 1 < rows.size() && rows[r + 1].pc <= page_start) ++r;
            index[p] = r;
          }
          m.rows = static_cast<const FrameDesc*>(mem);
          m.row_count = static_cast<uint32_t>(rows.size());
          m.page_first_row = index;
          m.page_count = static_cast<uint32_t>(pages);
          store_unwind_table(build_id, hi - lo, m.rows, m.row_count, index, pages);
        }
      }
    }
  }
  // One entry per executable segment; all share the object's table.
  for_each_code_segment(info, [&](uintptr_t seg_lo, uintptr_t seg_hi) {
    m.lo = seg_lo;
    m.hi = seg_hi;
    scan->found.push_back(m);
    return true;
  });
  return 0;
}

constinit std::mutex g_refresh_mutex;

// The loaded .eh_frame_hdr of an object that has a table to build (an executable segment and
// that header), or nullptr.
PROFAGENT_START_PATH
const uint8_t* table_source(const dl_phdr_info* info) {
  const ObjectCode code = code_of(info);
  return code.has_code() ? code.eh_frame_hdr : nullptr;
}

// One object for unwind_tables_entries_to_build: adds its FDE count if its table is not in
// the cache; stops past the limit, or at an object whose table could not be cached.
struct EntriesToBuild {
  uint64_t limit = 0;
  uint64_t entries = 0;
};

PROFAGENT_START_PATH
int object_entries_to_build(dl_phdr_info* info, size_t, void* data) {
  auto* count = static_cast<EntriesToBuild*>(data);
  const uint8_t* eh_frame_hdr = table_source(info);
  if (eh_frame_hdr == nullptr) return 0;
  const std::string id = loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
  if (id.empty()) {  // never stored: every run would build it again
    count->entries = UINT64_MAX;
    return 1;
  }
  if (unwind_table_cached(id)) return 0;
  count->entries += frame_table_entry_count(eh_frame_hdr);
  return count->entries > count->limit ? 1 : 0;
}

void refresh_locked();

// A refresh with the refresh mutex held: out of memory, the next one scans again.
PROFAGENT_START_PATH
void refresh_contained() {
  if (!run_contained("building the unwind tables", refresh_locked))
    g_rescan.store(true, std::memory_order_relaxed);
}

}  // namespace

PROFAGENT_START_PATH
uint64_t unwind_tables_entries_to_build(uint64_t limit) noexcept {
  AgentScope scope;
  if (!unwind_cache_writable()) return UINT64_MAX;  // nothing built now would be kept
  EntriesToBuild count{limit, 0};
  if (!run_contained("looking up the cached unwind tables", [&count] {
        ForkGateSection gate;  // (the loader's lock: a program's fork waits, fork_gate.h)
        for_each_loaded_object([&count](dl_phdr_info* info, size_t size) {
          return object_entries_to_build(info, size, &count);
        });
      }))
    return UINT64_MAX;
  return count.entries;
}

PROFAGENT_START_PATH
bool unwind_tables_refresh_if_idle() noexcept {
  AgentScope scope;
  std::unique_lock<std::mutex> lock(g_refresh_mutex, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  refresh_contained();
  return true;
}

namespace {

// One object for unwind_tables_defer_cached: false (stop) at an object whose table the cache
// does not hold, or one that does not fit the deferred table.
struct DeferCapture {
  DeferredObject* objects;  // deferred_objects_to_fill(): kMaxDeferredObjects entries
  int count = 0;
  bool all_cached = true;
  bool fits = true;
};

PROFAGENT_START_PATH
int capture_object(dl_phdr_info* info, DeferCapture* c) {
  // What scan_object would publish for it.
  const ObjectCode code = code_of(info);
  if (!code.has_code()) return 0;  // no code: not in the set
  DeferredObject o{};
  if (!for_each_code_segment(info, [&o](uintptr_t lo, uintptr_t hi) {
        if (o.segment_count == kMaxDeferredSegments) return false;
        o.segment_lo[o.segment_count] = lo;
        o.segment_hi[o.segment_count] = hi;
        ++o.segment_count;
        return true;
      })) {
    c->fits = false;
    return 1;
  }
  const std::string build_id =
      loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
  o.base = code.lo;
  o.span = code.hi - code.lo;
  o.pages = code.table_pages();
  o.load_bias = info->dlpi_addr;
  o.phdr = info->dlpi_phdr;
  o.fingerprint = module_fingerprint(build_id, code.eh_frame_hdr);
  if (code.eh_frame_hdr != nullptr) {  // (else no table: its rows stay null)
    if (!unwind_table_cached(build_id)) {
      c->all_cached = false;
      return 1;
    }
    const std::string path = unwind_cache_path(build_id);
    if (path.size() >= sizeof o.path) {
      c->fits = false;
      return 1;
    }
    memcpy(o.path, path.c_str(), path.size() + 1);
  }
  if (c->count == kMaxDeferredObjects) {
    c->fits = false;
    return 1;
  }
  c->objects[c->count++] = o;
  return 0;
}

}  // namespace

PROFAGENT_START_PATH
DeferredTables unwind_tables_defer_cached() noexcept {
  AgentScope scope;
  DeferCapture capture{deferred_objects_to_fill()};
  if (capture.objects == nullptr) return DeferredTables::kCachedNotDeferred;  // (they wait)
  if (!run_contained("looking up the cached unwind tables", [&capture] {
        for_each_loaded_object([&capture](dl_phdr_info* info, size_t) {
          return capture_object(info, &capture);
        });
      }))
    return DeferredTables::kNotAllCached;  // (out of memory: not known to be cached)
  if (!capture.all_cached) return DeferredTables::kNotAllCached;
  if (!capture.fits || !defer_unwind_tables(capture.count))
    return DeferredTables::kCachedNotDeferred;
  return DeferredTables::kDeferred;
}

// Out of memory for a table or the scan's list: the objects not done are scanned again at
// the next refresh (the set published before stays).
PROFAGENT_START_PATH
void unwind_tables_refresh() noexcept {
  AgentScope scope;
  std::lock_guard<std::mutex> lock(g_refresh_mutex);
  refresh_contained();
}

namespace {

PROFAGENT_START_PATH
void refresh_locked() {
  Scan scan;
  scan.old = g_set.load(std::memory_order_acquire);
  // Taken before the scan (a request made during it stands for the next one). The rescan
  // flag used to be cleared here and then read by the scan, so it never forced anything.
  scan.forced = g_rescan.exchange(false) | g_rebuild.exchange(false);
  {
    // The loader's lock is held meanwhile (and tables are built inside the callback): a
    // program's fork() waits rather than copy it held (fork_gate.h).
    ForkGateSection gate;
    for_each_loaded_object(
        [&scan](dl_phdr_info* info, size_t size) { return scan_object(info, size, &scan); });
  }
  if (scan.unchanged) return;
  cancel_deferred_unwind_tables();  // (a set is published now: nothing is left to map)
  std::sort(scan.found.begin(), scan.found.end(),
            [](const UnwindModule& a, const UnwindModule& b) { return a.lo < b.lo; });
  if (!publish_unwind_modules(scan.found.data(), scan.found.size())) {
    // Without a set no stack can be walked (CPU samples keep one frame): say so, once.
    static std::atomic<bool> warned{false};
    if (!warned.exchange(true))
      log().warn("cannot map the unwind tables' index (out of memory); stacks are not walked");
  }
}

}  // namespace

PROFAGENT_START_PATH
bool publish_unwind_modules(const UnwindModule* sorted, size_t count, void* storage,
                            size_t storage_bytes) noexcept {
  size_t head = sizeof(UnwindModuleSet) + count * sizeof(UnwindModule);
  head = (head + 63) & ~size_t{63};
  const size_t bytes = unwind_module_set_bytes(count);
  auto* set = static_cast<UnwindModuleSet*>(bytes <= storage_bytes ? storage : map_forever(bytes));
  if (set == nullptr) return false;
  auto* los = reinterpret_cast<uintptr_t*>(reinterpret_cast<char*>(set) + head);
  set->count = static_cast<uint32_t>(count);
  for (size_t i = 0; i < count; ++i) {
    set->modules[i] = sorted[i];
    los[i] = sorted[i].lo;
  }
  set->los = los;
  // The previous set is retired, not unmapped: a walk may still be reading it. Sets are
  // small (one entry per loaded object) and only made when the loader's lists changed.
  g_set.store(set, std::memory_order_release);
  if (g_first_published_nanos.load(std::memory_order_relaxed) == 0)
    g_first_published_nanos.store(monotonic_nanos(), std::memory_order_relaxed);
  // Walks waiting for the first tables (wait_for_unwind_tables) sleep on this word.
  g_published.fetch_add(1, std::memory_order_release);
  futex_wake(g_published, INT32_MAX);
  return true;
}

PROFAGENT_FORK_PATH void unwind_tables_after_fork_child() noexcept {
  // The parent's dump thread may have been refreshing (holding the mutex) at the fork; the
  // tables themselves are complete or unpublished, so only the lock is made anew.
  remake_lock_if_used(g_refresh_mutex);
  table_checks_after_fork_child();
}

PROFAGENT_SAMPLE_PATH
PROFAGENT_FORK_PATH const UnwindModuleSet* unwind_modules() noexcept {
  return g_set.load(std::memory_order_acquire);
}

void want_unwind_tables() noexcept { g_wanted.store(true, std::memory_order_release); }

bool wait_for_first_unwind_tables(int64_t deadline_nanos) noexcept {
  for (;;) {
    uint32_t seen = g_published.load(std::memory_order_acquire);
    if (unwind_modules() != nullptr) return true;
    if (monotonic_nanos() >= deadline_nanos) return false;
    futex_wait_until(g_published, seen, deadline_nanos);
  }
}
bool unwind_tables_wanted() noexcept { return g_wanted.load(std::memory_order_acquire); }

int64_t first_unwind_tables_nanos() noexcept {
  return g_first_published_nanos.load(std::memory_order_relaxed);
}

PROFAGENT_SAMPLE_PATH
void note_unknown_pc() noexcept { g_rescan.store(true, std::memory_order_relaxed); }

bool unknown_pc_noted() noexcept { return g_rescan.load(std::memory_order_relaxed); }

void unwind_tables_check_pending() noexcept {
  const UnwindModuleSet* set = g_set.load(std::memory_order_acquire);
  if (set == nullptr) return;
  bool settled = false;
  // Segments of one object share its check: the first one checks it, the rest see the state.
  for (uint32_t i = 0; i < set->count; ++i) {
    const TableCheck* check = set->modules[i].check;
    if (check == nullptr) continue;
    check_table(set->modules[i].check);
    settled |= check->state.load(std::memory_order_acquire) != TableCheck::kChecking;
  }
  // Published anew without the settled checks: a lookup then reads no check state (one cache
  // line less per frame in a sample handler), and a failed table is rebuilt.
  if (settled) {
    g_rebuild.store(true, std::memory_order_relaxed);
    unwind_tables_refresh();
  }
}

PROFAGENT_SAMPLE_PATH
const UnwindModule* find_unwind_module(const UnwindModuleSet* set, uintptr_t pc) noexcept {
  if (set == nullptr) return nullptr;
  uint32_t lo = 0, hi = set->count;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (set->los[mid] <= pc) lo = mid + 1;
    else hi = mid;
  }
  if (lo == 0) return nullptr;
  const UnwindModule& m = set->modules[lo - 1];
  return pc < m.hi ? &m : nullptr;
}

PROFAGENT_SAMPLE_PATH
const FrameDesc* find_frame_desc(const UnwindModule& m, uintptr_t pc) noexcept {
  if (m.rows == nullptr || pc < m.lo || pc >= m.hi || pc - m.base > UINT32_MAX) return nullptr;
  if (table_check_failed(m.check)) return nullptr;  // withdrawn: being built anew
  uint32_t off = static_cast<uint32_t>(pc - m.base);
  // Rows that can cover `off`: from the last one starting at or before its page, up to the
  // last one starting at or before the next page.
  uint32_t page = off >> kUnwindPageShift;
  if (page + 1 >= m.page_count) return nullptr;
  uint32_t lo = m.page_first_row[page], hi = m.page_first_row[page + 1] + 1;
  if (lo >= m.row_count) return nullptr;  // a cached index is not checked at load
  if (hi > m.row_count) hi = m.row_count;
  if (m.rows[lo].pc > off) return nullptr;  // below the first row
  ++lo;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (m.rows[mid].pc <= off) lo = mid + 1;
    else hi = mid;
  }
  return lo == 0 ? nullptr : &m.rows[lo - 1];
}

}  // namespace profagent
