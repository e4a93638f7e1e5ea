// Futex wait and wake (see futex.h). SIGNAL-SAFE.
#include "agent/core/futex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "agent/core/code_layout.h"

namespace profagent {

static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

void futex_wait_until(std::atomic<uint32_t>& word, uint32_t seen, int64_t deadline_nanos) noexcept {
  int saved = errno;
  timespec absolute;
  timespec* timeout = nullptr;
  if (deadline_nanos != 0) {
    absolute.tv_sec = static_cast<time_t>(deadline_nanos / 1000000000);
    absolute.tv_nsec = static_cast<long>(deadline_nanos % 1000000000);
    timeout = &absolute;
  }
  // FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time (no drift over long sleeps).
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_BITSET_PRIVATE, seen,
          timeout, nullptr, FUTEX_BITSET_MATCH_ANY);
  errno = saved;
}

PROFAGENT_START_PATH
void futex_wake(std::atomic<uint32_t>& word, int count) noexcept {
  int saved = errno;
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr,
          nullptr, 0);
  errno = saved;
}

}  // namespace profagent
