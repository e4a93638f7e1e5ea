// The checksum of a cached unwind table, checked when a walk first needs the table rather
// than when the file is mapped: a process maps the cached tables of every loaded object at
// start, but most short processes (a shell script's /bin/true) never walk at all, and
// checking every table up front read about 1 MiB per process. SIGNAL-SAFE: the check is
// pure arithmetic over mapped memory, state is a lock-free byte per table.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace profagent {

// The file layout's checksum (writer and checker agree on it). Pure function.
uint64_t unwind_cache_checksum(const void* data, size_t bytes) noexcept;

struct TableCheck {
  enum State : uint8_t { kUnchecked, kChecking, kPassed, kFailed };
  std::atomic<uint8_t> state{kUnchecked};
  const void* payload = nullptr;
  size_t bytes = 0;
  uint64_t expected = 0;
};

// A slot for a newly mapped table (normal context, under the table refresh's mutex); nullptr
// when every slot is taken (the caller then checks the table at once with
// unwind_cache_checksum). Slots live as long as the process, as mapped tables do.
TableCheck* new_table_check(const void* payload, size_t bytes, uint64_t expected) noexcept;

// True once the table's checksum matched. The first caller computes it (tens of µs for
// libc's table, once per process); a caller that finds another thread checking gets false
// for now (its walk treats the object as having no table: frame pointers). A table that
// fails is never used, and the dump thread is woken to build it anew (unwind_tables.cc).
// SIGNAL-SAFE, no errno change.
bool table_check_passed(TableCheck* check) noexcept;

// In a forked child: a check another thread of the parent was running is started over.
void table_checks_after_fork_child() noexcept;

inline bool table_check_failed(const TableCheck* check) noexcept {
  return check != nullptr && check->state.load(std::memory_order_acquire) == TableCheck::kFailed;
}

}  // namespace profagent
