// The reserve of the agent's own C++ exceptions (see exception_reserve.h). Any context:
// lock-free (one atomic mask), no allocation.
#include "agent/core/exception_reserve.h"

#include <cstring>

namespace profagent {

void* ExceptionReserve::take(size_t size) noexcept {
  if (size > kSlotBytes) return nullptr;
  uint32_t used = used_.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t free_slots = ~used & ((uint64_t{1} << kSlots) - 1);
    if (free_slots == 0) return nullptr;
    const int slot = __builtin_ctz(free_slots);
    if (used_.compare_exchange_weak(used, used | (uint32_t{1} << slot),
                                    std::memory_order_acquire, std::memory_order_relaxed)) {
      memset(slots_[slot], 0, size);
      return slots_[slot];
    }
  }
}

bool ExceptionReserve::give_back(void* block) noexcept {
  const auto* bytes = static_cast<unsigned char*>(block);
  if (bytes < slots_[0] || bytes >= slots_[0] + sizeof slots_) return false;
  const size_t slot = static_cast<size_t>(bytes - slots_[0]) / kSlotBytes;
  used_.fetch_and(~(uint32_t{1} << slot), std::memory_order_release);
  return true;
}

size_t ExceptionReserve::in_use() const noexcept {
  return static_cast<size_t>(__builtin_popcount(used_.load(std::memory_order_relaxed)));
}

}  // namespace profagent
