// Sleeping on a 32-bit word until another thread changes it and wakes it (a futex private to
// the process). No descriptor: nothing the host can close or reuse. SIGNAL-SAFE (one system
// call each), errno preserved.
#pragma once

#include <atomic>
#include <cstdint>

namespace profagent {

// Sleeps while `word` holds `seen`, until woken or the CLOCK_MONOTONIC `deadline_nanos`
// (0: none). May return early (a wake-up for another reason, a signal): callers check their
// condition again.
void futex_wait_until(std::atomic<uint32_t>& word, uint32_t seen, int64_t deadline_nanos) noexcept;

// Wakes up to `count` threads sleeping on `word`.
void futex_wake(std::atomic<uint32_t>& word, int count) noexcept;

}  // namespace profagent
