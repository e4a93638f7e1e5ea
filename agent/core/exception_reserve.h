// The reserve the agent's own C++ exceptions fall back on when malloc fails (an agent under
// a tight RLIMIT_AS throws std::bad_alloc, and that exception needs memory too). It takes the
// place of libstdc++'s emergency pool (eh_alloc.cc), which malloc'ed ~72 KiB in a static
// constructor of every process the agent was loaded into, before main, initialising the
// program's malloc (brk, its first pages) in a program that never allocates: ~10 us of each
// `/bin/true`. This reserve is a fixed array in .lbss, never touched until an allocation
// fails. Any context: lock-free, allocation-free, errno untouched.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace profagent {

class ExceptionReserve {
 public:
  // Room for one exception object of up to 128 bytes with the runtime's 128-byte header (a
  // bad_alloc, a system_error or a runtime_error, whose message lives elsewhere).
  static constexpr size_t kSlotBytes = 256;
  static constexpr size_t kSlots = 16;  // exceptions in flight at once with malloc failing

  // A zeroed block of `size` bytes, 16-byte aligned, or nullptr when it is larger than a slot
  // or every slot is in use.
  void* take(size_t size) noexcept;
  // Gives back a block take() returned and returns true; false (and nothing done) for memory
  // that is not the reserve's.
  bool give_back(void* block) noexcept;
  size_t in_use() const noexcept;

 private:
  static_assert(kSlots <= 32, "one bit per slot in a 32-bit mask");
  alignas(16) unsigned char slots_[kSlots][kSlotBytes] = {};
  std::atomic<uint32_t> used_{0};
};

}  // namespace profagent
