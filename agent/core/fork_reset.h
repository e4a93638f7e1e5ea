// Writes for fork-child handlers that only write what changes. A fork child shares every
// page with its parent until it writes one (copy-on-write: a page fault and a 4 KiB copy);
// most children exec at once (a shell's every command), so a reset that stores the value a
// variable already holds costs the child a fault for nothing. Any context (no allocation,
// no lock): fork handlers run before the child may do anything else. Their code is marked
// PROFAGENT_FORK_PATH (code_layout.h).
#pragma once

#include <atomic>
#include <cstring>
#include <new>
#include <type_traits>

#include "agent/core/code_layout.h"  // PROFAGENT_FORK_PATH

namespace profagent {

// `a = value`, unless it already is.
template <class T, class U>
inline void store_if_changed(std::atomic<T>& a, U value) noexcept {
  const T v = value;  // (no cast: a conversion a plain store would refuse is refused here)
  if (a.load(std::memory_order_relaxed) != v) a.store(v, std::memory_order_relaxed);
}

// `x = value` for a plain variable, unless it already is.
template <class T, class U>
inline void assign_if_changed(T& x, const U& value) noexcept {
  if (!(x == value)) x = value;
}

// Whether a lock's bytes are those of a fresh one: never used, or unlocked again (an
// unlocked glibc mutex of the default kind is its initial bytes again; one that elision or
// adaptive spinning marked is not, and is only re-made for nothing). Never true of a held one.
// For lock classes (std::mutex): a plain pthread type would be value-initialized to zeros,
// which is not every initializer (PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP).
template <class Lock>
inline bool lock_is_fresh(const Lock& lock) noexcept {
  static_assert(!std::is_trivially_default_constructible_v<Lock>, "a lock class, not a C type");
  static constexpr Lock kFresh{};
  return std::memcmp(static_cast<const void*>(&lock), static_cast<const void*>(&kFresh),
                     sizeof lock) == 0;
}

// A lock a parent thread may have held at the fork, made anew unless it is fresh (it then
// needs no reset, and its page stays shared).
template <class Lock>
inline void remake_lock_if_used(Lock& lock) noexcept {
  if (!lock_is_fresh(lock)) new (&lock) Lock;
}

}  // namespace profagent
