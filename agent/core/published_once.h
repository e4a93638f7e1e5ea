// An object made at its first use and published to every thread with a compare-and-swap:
// threads that race each make one, the first one published wins, the others delete theirs.
// Unlike a function-local static, it has no initialisation guard a fork child could find
// held by a parent thread that does not exist there, and nothing is made before it is needed
// (a fork handler that finds none has nothing to reset). Normal context (it allocates).
#pragma once

#include <atomic>

namespace profagent {

// The object in `slot`, made by `make()` (returning a `new` T) if there is none yet.
template <class T, class Make>
T& published_once(std::atomic<T*>& slot, Make make) {
  if (T* published = slot.load(std::memory_order_acquire)) return *published;
  T* made = make();
  T* expected = nullptr;
  if (slot.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return *made;
  delete made;  // another thread's was published first
  return *expected;
}

}  // namespace profagent
