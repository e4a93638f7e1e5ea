// The warning for agent work that threw (contained.h). Normal context; allocates nothing,
// since what threw is most often an allocation that failed.
#include "agent/core/contained.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <new>

#include "agent/core/large_bss.h"
#include "agent/core/log.h"

namespace profagent {

namespace {

// The places that have warned (a place is its `what`: a string literal of its own); past
// kPlaces of them, each failure warns.
constexpr int kPlaces = 32;
PROFAGENT_LARGE_BSS std::atomic<const char*> g_warned[kPlaces];  // (large_bss.h)

// True the first time `what` is seen.
bool first_failure_of(const char* what) noexcept {
  for (std::atomic<const char*>& slot : g_warned) {
    const char* seen = slot.load(std::memory_order_acquire);
    if (seen == what) return false;
    if (seen == nullptr) {
      if (slot.compare_exchange_strong(seen, what)) return true;
      if (seen == what) return false;  // another thread took this slot for the same place
    }
  }
  return true;
}

}  // namespace

void report_contained_failure(const char* what) noexcept {
  if (!first_failure_of(what)) return;
  char line[400];
  try {
    throw;  // the exception being handled, to name it
  } catch (const std::bad_alloc&) {
    snprintf(line, sizeof line, "out of memory while %s (the program runs on)", what);
  } catch (const std::exception& e) {
    snprintf(line, sizeof line, "%s while %s (the program runs on)", e.what(), what);
  } catch (...) {
    snprintf(line, sizeof line, "an unexpected error while %s (the program runs on)", what);
  }
  log_warning_direct(line);
}

}  // namespace profagent
