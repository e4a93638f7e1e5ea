// The checksum of a cached unwind table, checked by the dump thread right after the table is
// mapped rather than by the code that maps it: a process maps the cached tables of every
// loaded object at start, and checking them there read about 1 MiB on the program's own
// path (every process of a shell script paid it). Walks use a mapped table at once and stop
// using it when its check fails (the dump thread then builds it anew). check_table is normal
// context; table_check_failed and the state are read by walks in SIGNAL/HOOK CONTEXT.
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

// Checks the table's checksum if nobody has yet (the dump thread; pure arithmetic over the
// mapped file, ~0.1 ms for libc's). True once it matched; false if it failed or another
// thread is checking it now.
bool check_table(TableCheck* check) noexcept;

// In a forked child: a check another thread of the parent was running is started over.
void table_checks_after_fork_child() noexcept;

inline bool table_check_failed(const TableCheck* check) noexcept {
  return check != nullptr && check->state.load(std::memory_order_acquire) == TableCheck::kFailed;
}

}  // namespace profagent
