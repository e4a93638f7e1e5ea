// Clock helpers (vDSO clock_gettime, or the system call in line): async-signal-safe, usable
// in any context.
#pragma once

#include <cstdint>
#include <ctime>

#include "agent/core/raw_syscall.h"

namespace profagent {

inline int64_t nanos_of(const timespec& ts) noexcept {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
inline int64_t clock_nanos(clockid_t clock) noexcept {
  timespec ts;
  clock_gettime(clock, &ts);
  return nanos_of(ts);
}
// clock_nanos with the system call in line: no page of the vDSO or of libc touched, for the
// fork path (raw_syscall.h); 0 if the call fails.
__attribute__((always_inline)) inline int64_t clock_nanos_by_syscall(clockid_t clock) noexcept {
  timespec ts{};
  raw_syscall(SYS_clock_gettime, clock, reinterpret_cast<long>(&ts));
  return nanos_of(ts);
}
inline int64_t monotonic_nanos() noexcept { return clock_nanos(CLOCK_MONOTONIC); }
inline int64_t unix_nanos() noexcept { return clock_nanos(CLOCK_REALTIME); }
// time(nullptr), without importing time(): an IFUNC, whose resolver, on a page of libc no
// other start touches, the loader ran at every load of the agent (a page fault each).
inline int64_t unix_seconds() noexcept { return unix_nanos() / 1000000000; }

}  // namespace profagent
