// The deferred mapping of the cached unwind tables (see deferred_tables.h). defer_unwind_tables
// is NORMAL CONTEXT (at start); the rest is SIGNAL/HOOK-SAFE: one atomic state word decides
// who maps, the objects and the scratch list of modules are fixed arrays in .bss, and the
// files are opened, mapped and closed with plain system calls.
#include "agent/runtime/unwind/deferred_tables.h"

#include <dlfcn.h>
#include <link.h>
#include <sys/single_threaded.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/core/code_layout.h"
#include "agent/core/fork_child.h"
#include "agent/core/large_bss.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwind_cache.h"
#include "agent/runtime/unwind/unwind_tables.h"

namespace profagent {
namespace {

// kMapping in a fork child is the forking thread's own mapping (a signal handler over it
// forked), which resumes in the child as in the parent: left as it is. kDone: the set is
// published; kCancelled: a refresh published its own first, nothing of this file's is.
enum State : int { kNone, kWaiting, kMapping, kDone, kFailed, kCancelled };
constinit std::atomic<int> g_state{kNone};
// Filled in at start (deferred_objects_to_fill), before any walk can read them (the state is
// released after). On a page boundary: the few objects a process has (~2 KiB) are written to
// one page, not two.
alignas(4096) PROFAGENT_LARGE_BSS constinit DeferredObject g_objects[kMaxDeferredObjects] = {};
constinit int g_count = 0;
constinit std::atomic<int64_t> g_mapping_nanos{0};  // deferred_tables_mapping_nanos()
// The modules being made (one mapping at a time: the state says whose), sorted by lo.
PROFAGENT_LARGE_BSS constinit UnwindModule g_found[kMaxDeferredObjects * kMaxDeferredSegments] = {};
// The set the mapping publishes (once per process: the state never leaves kDone), here
// rather than in a page mapped for it: one mapping fewer in every process that walks, for a
// shell one fewer to copy at each fork.
constexpr size_t kSetBytes = unwind_module_set_bytes(kMaxDeferredObjects * kMaxDeferredSegments);
alignas(64) PROFAGENT_LARGE_BSS constinit char g_set_storage[kSetBytes] = {};

// A descriptor held for a moment cannot be taken or closed by another thread of the program.
PROFAGENT_START_PATH bool may_hold_a_descriptor() noexcept {
  return __libc_single_threaded && !program_may_have_other_threads() &&
         !shares_its_parents_memory();
}

// The object the start noted is still the one loaded there (none was unloaded and another
// loaded in its place since): found at its code by the loader's lock-free lookup, with the
// same load bias, over all of its executable segments.
PROFAGENT_START_PATH bool still_loaded(const DeferredObject& o) noexcept {
  for (int s = 0; s < o.segment_count; ++s) {
    dl_find_object found;
    if (_dl_find_object(reinterpret_cast<void*>(o.segment_lo[s]), &found) != 0) return false;
    const auto* map = static_cast<const link_map*>(found.dlfo_link_map);
    if (map == nullptr || map->l_addr != o.load_bias ||
        reinterpret_cast<uintptr_t>(found.dlfo_map_start) > o.segment_lo[s] ||
        reinterpret_cast<uintptr_t>(found.dlfo_map_end) < o.segment_hi[s])
      return false;
  }
  return true;
}

PROFAGENT_START_PATH void insert_sorted(UnwindModule* found, size_t& n, const UnwindModule& m) {
  size_t i = n++;
  for (; i > 0 && found[i - 1].lo > m.lo; --i) found[i] = found[i - 1];
  found[i] = m;
}

// Nothing waits, is being mapped, or was published from the objects (the published set is
// made once per process).
PROFAGENT_START_PATH bool may_fill() noexcept {
  const int state = g_state.load(std::memory_order_acquire);
  return state == kNone || state == kCancelled;
}

}  // namespace

PROFAGENT_START_PATH DeferredObject* deferred_objects_to_fill() noexcept {
  return may_fill() ? g_objects : nullptr;
}

PROFAGENT_START_PATH
bool defer_unwind_tables(int count) noexcept {
  if (count < 0 || count > kMaxDeferredObjects || !may_fill()) return false;
  g_count = count;
  g_state.store(kWaiting, std::memory_order_release);
  return true;
}

PROFAGENT_FORK_PATH bool unwind_tables_deferred() noexcept {
  return g_state.load(std::memory_order_acquire) == kWaiting;
}

bool deferred_unwind_tables_unpublished() noexcept {
  const int state = g_state.load(std::memory_order_acquire);
  return state == kWaiting || state == kMapping || state == kFailed;
}

PROFAGENT_START_PATH bool map_deferred_unwind_tables() noexcept {
  if (g_state.load(std::memory_order_acquire) != kWaiting || !may_hold_a_descriptor())
    return false;
  int waiting = kWaiting;
  if (!g_state.compare_exchange_strong(waiting, kMapping, std::memory_order_acq_rel))
    return false;  // another call maps (this one interrupted it) or a refresh published
  const int saved_errno = errno;  // (a hook's or handler's caller sees its own)
  const int64_t began = monotonic_nanos();
  size_t n = 0;
  bool complete = true;
  for (int i = 0; i < g_count && complete; ++i) {
    const DeferredObject& o = g_objects[i];
    if (!still_loaded(o)) {
      complete = false;  // the loader's list changed: the dump thread's refresh reads it anew
      break;
    }
    CachedTable t;  // (an object without .eh_frame_hdr has no table: published without rows)
    if (o.path[0] != '\0') {
      t = load_unwind_table_at(o.path, o.span, o.pages);
      if (t.rows == nullptr) {
        complete = false;  // gone or damaged since the start looked: the refresh builds it
        break;
      }
    }
    UnwindModule m{};
    m.base = o.base;
    m.rows = t.rows;
    m.row_count = t.row_count;
    m.page_first_row = t.page_first_row;
    m.page_count = t.rows != nullptr ? static_cast<uint32_t>(o.pages) : 0;
    m.check = t.check;
    m.load_bias = o.load_bias;
    m.phdr = o.phdr;
    m.fingerprint = o.fingerprint;
    for (int s = 0; s < o.segment_count; ++s) {
      m.lo = o.segment_lo[s];
      m.hi = o.segment_hi[s];
      insert_sorted(g_found, n, m);
    }
  }
  // (Tables mapped before a failure stay mapped, unused: the refresh maps its own.)
  const bool published =
      complete && publish_unwind_modules(g_found, n, g_set_storage, sizeof g_set_storage);
  if (published) g_mapping_nanos.store(monotonic_nanos() - began, std::memory_order_relaxed);
  g_state.store(published ? kDone : kFailed, std::memory_order_release);
  errno = saved_errno;
  return published;
}

int64_t deferred_tables_mapping_nanos() noexcept {
  return g_mapping_nanos.load(std::memory_order_relaxed);
}

void cancel_deferred_unwind_tables() noexcept {
  int state = g_state.load(std::memory_order_acquire);
  while ((state == kWaiting || state == kFailed) &&
         !g_state.compare_exchange_weak(state, kCancelled, std::memory_order_acq_rel)) {
  }
}


}  // namespace profagent
