// Clock helpers (vDSO clock_gettime): async-signal-safe, usable in any context.
#pragma once

#include <cstdint>
#include <ctime>

namespace profagent {

inline int64_t clock_nanos(clockid_t clock) noexcept {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline int64_t monotonic_nanos() noexcept { return clock_nanos(CLOCK_MONOTONIC); }
inline int64_t unix_nanos() noexcept { return clock_nanos(CLOCK_REALTIME); }
// time(nullptr), without importing time(): an IFUNC, whose resolver, on a page of libc no
// other start touches, the loader ran at every load of the agent (a page fault each).
inline int64_t unix_seconds() noexcept { return unix_nanos() / 1000000000; }

}  // namespace profagent
