// The dump thread's wake-up word: a futex the dump thread sleeps on, bumped by anything that
// needs it (dump or termination signal, a collector's tick request, the program's last
// thread ending). No descriptor: nothing the host can close or reuse. SIGNAL-SAFE except
// wait_for_wakeup (the dump thread's own sleep).
#pragma once

#include <cstdint>

namespace profagent {

// Wakes the dump thread. SIGNAL-SAFE, errno preserved.
void wake_dump_thread() noexcept;

// A collector has background work (e.g. a sample buffer to drain): every running
// collector's on_tick runs on the dump thread within about 100 ms. Cheap when already
// asked (one relaxed load), and when the dump thread said it will look by itself (no
// system call). SIGNAL-SAFE.
void request_collector_tick() noexcept;

// For the dump thread: while on, it looks for a tick request by itself (it sleeps with a
// deadline ~100 ms away), so a request does not wake it. A futex wake from a signal handler
// costs ~10 us in a VM (an inter-processor interrupt), at every tick of a busy process.
// Turned off when a look found no request; a request made after that wakes it again.
void expect_tick_requests(bool on) noexcept;

// For the dump thread: the current wake-up count, whether a tick was asked for (and
// clearing it), and sleeping until the count moves past `seen` or `deadline`
// (CLOCK_MONOTONIC ns; 0 = none).
uint32_t wakeup_count() noexcept;
bool tick_requested() noexcept;
void clear_tick_request() noexcept;
void wait_for_wakeup(uint32_t seen, int64_t deadline) noexcept;

// In a forked child: no request of the parent stands (nor a deferred start).
void reset_wakeups_after_fork() noexcept;

// While the dump thread is deferred (agent/dump_thread.h), a signal handler whose
// work needs it (the CPU handler: samples to drain) offers the point it interrupted (its
// ucontext), a hook (a sampled allocation) the caller's own point (nullptr), where the
// thread may be started. `needed`: the work cannot wait for the exit dump (a sample table
// filling up, a module the unwind tables lack); a process that forked takes only such offers
// (dump_thread.h). One relaxed load when nothing is deferred. SIGNAL/HOOK-SAFE.
void offer_point_for_dump_thread(const void* ucontext, bool needed) noexcept;
// The dump thread's deferred start (nullptr: nothing deferred). Set by agent/dump_thread.cc.
using DeferredDumpThreadStarter = bool (*)(const void* ucontext, bool needed) noexcept;
void set_deferred_dump_thread_starter(DeferredDumpThreadStarter starter) noexcept;

}  // namespace profagent
