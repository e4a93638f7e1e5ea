// SIGNAL CONTEXT: handler() runs inside the SIGPROF dispatcher on a running program thread
// (async-signal-safe: atomics and libunwind's signal-frame unwind into a preallocated slot; no
// allocation, no lock). The request side (init/ask/wait/poll/abandon) is normal context on
// the wall sampler thread. See wall_signal_handler.h.
#include "agent/core/large_bss.h"
#include "collectors/wall/wall_signal_handler.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/core/futex.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr uint32_t kIdle = 0, kRequested = 1, kWriting = 2, kDone = 3;
constexpr uint32_t kIndexBits = 10;                     // 1024 slots
constexpr uint32_t kGenerationMask = (1u << 20) - 1;    // bits 10..29 of the cookie
static_assert(WallSignalSlots::kMaxSlots == 1u << kIndexBits);

constexpr uint32_t state_of(uint32_t generation, uint32_t phase) { return generation << 3 | phase; }
constexpr uint32_t phase_of(uint32_t state) { return state & 7; }

std::atomic<void*> g_published{nullptr};
// Answers written so far (any round); the sampler sleeps on it as a futex instead of polling.
std::atomic<uint32_t> g_answers{0};

}  // namespace

PROFAGENT_LARGE_BSS constinit WallSignalSlots g_wall_slots;

bool WallSignalSlots::init() noexcept {
  if (slots_ != nullptr) return true;
  void* p = mmap(nullptr, sizeof(Slot) * kMaxSlots, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  slots_ = static_cast<Slot*>(p);  // zero pages: every slot idle
  g_published.store(p, std::memory_order_release);
  return true;
}

void WallSignalSlots::handler(siginfo_t* info, void* ucontext) noexcept {
  auto* slots = static_cast<Slot*>(g_published.load(std::memory_order_acquire));
  if (slots == nullptr || info == nullptr) return;
  uint32_t cookie = static_cast<uint32_t>(info->si_value.sival_int) & ~kWallCookieBit;
  uint32_t index = cookie & (kMaxSlots - 1);
  uint32_t generation = (cookie >> kIndexBits) & kGenerationMask;
  Slot& slot = slots[index];
  uint32_t expected = state_of(generation, kRequested);
  if (!slot.state.compare_exchange_strong(expected, state_of(generation, kWriting),
                                          std::memory_order_acquire))
    return;  // a late answer to an abandoned request
  // Inside the agent's own slow path (possibly in libunwind already): no unwind, the sample
  // is the agent's.
  slot.depth = in_agent() ? kInAgentDepth : unwind_from_signal(ucontext, slot.pcs, kMaxFrames);
  slot.state.store(state_of(generation, kDone), std::memory_order_release);
  g_answers.fetch_add(1, std::memory_order_release);
  futex_wake(g_answers, 1);
}

int WallSignalSlots::ask(pid_t tid, int* err) noexcept {
  *err = 0;
  if (slots_ == nullptr) return -1;
  // A new generation per request: a slot's state carries the generation it was asked under,
  // so a request can stay open across ticks and a stale signal never matches a reused slot.
  generation_ = (generation_ + 1) & kGenerationMask;
  if (generation_ == 0) generation_ = 1;
  // The next idle slot after the last one handed out (slots with an open request are skipped).
  for (uint32_t n = 0; n < kMaxSlots; ++n) {
    uint32_t index = (cursor_ + n) & (kMaxSlots - 1);
    Slot& slot = slots_[index];
    uint32_t state = slot.state.load(std::memory_order_acquire);
    if (phase_of(state) != kIdle) continue;
    slot.depth = 0;
    slot.state.store(state_of(generation_, kRequested), std::memory_order_release);
    int e = arm_cpu_clock_request(tid, kWallCookieBit | generation_ << kIndexBits | index,
                              &timers_[index]);
    if (e != 0) {
      slot.state.store(kIdle, std::memory_order_release);
      *err = e;
      return -1;
    }
    timer_live_[index] = true;
    cursor_ = index + 1;
    return static_cast<int>(index);
  }
  return -1;  // every slot has an open request
}

void WallSignalSlots::wait(const int* indices, size_t count, int64_t deadline_mono) noexcept {
  for (;;) {
    const uint32_t seen = g_answers.load(std::memory_order_acquire);
    bool pending = false;
    for (size_t i = 0; i < count && !pending; ++i) {
      if (indices[i] < 0) continue;
      uint32_t phase = phase_of(slots_[indices[i]].state.load(std::memory_order_acquire));
      pending = phase == kRequested || phase == kWriting;
    }
    if (!pending || monotonic_nanos() >= deadline_mono) return;
    // Sleep until the next answer or the deadline: every handler that finishes a slot bumps
    // the word and wakes it, and an answer that came after `seen` was read makes the wait
    // return at once (the word changed), so none is missed.
    futex_wait_until(g_answers, seen, deadline_mono);
  }
}

int WallSignalSlots::poll(int index, uintptr_t* pcs, int max_frames) noexcept {
  if (slots_ == nullptr || index < 0 || static_cast<uint32_t>(index) >= kMaxSlots) return -1;
  Slot& slot = slots_[index];
  uint32_t phase = phase_of(slot.state.load(std::memory_order_acquire));
  if (phase == kRequested || phase == kWriting) return kPendingDepth;
  if (phase != kDone) return -1;
  drop_timer(index);
  int result;
  if (slot.depth == kInAgentDepth) {
    result = kInAgentDepth;
  } else {
    result = slot.depth < 0 ? 0 : (slot.depth > max_frames ? max_frames : slot.depth);
    for (int i = 0; i < result; ++i) pcs[i] = slot.pcs[i];
  }
  slot.state.store(kIdle, std::memory_order_release);
  return result;
}

void WallSignalSlots::abandon(int index) noexcept {
  if (slots_ == nullptr || index < 0 || static_cast<uint32_t>(index) >= kMaxSlots) return;
  drop_timer(index);  // no expiry after this; one already queued finds the slot closed
  Slot& slot = slots_[index];
  uint32_t state = slot.state.load(std::memory_order_acquire);
  if (phase_of(state) == kRequested &&
      slot.state.compare_exchange_strong(state, kIdle, std::memory_order_acq_rel))
    return;  // a late signal finds (another generation's) state and writes nothing
  // Being written right now: let the handler finish (microseconds), then free the slot.
  for (int i = 0; i < 100 && phase_of(slot.state.load(std::memory_order_acquire)) == kWriting;
       ++i) {
    timespec ts{0, 20 * 1000};
    nanosleep(&ts, nullptr);
  }
  if (phase_of(slot.state.load(std::memory_order_acquire)) == kDone)
    slot.state.store(kIdle, std::memory_order_release);
  // Still writing after 2 ms (the thread was preempted in the handler): the slot stays busy
  // and is skipped by ask() until its handler sets it done; poll() is never called on it
  // again, so it is freed by reset_after_fork only. Bounded by kMaxSlots.
}

void WallSignalSlots::drop_timer(int index) noexcept {
  if (!timer_live_[index]) return;
  timer_delete(timers_[index]);
  timer_live_[index] = false;
}

PROFAGENT_FORK_PATH void WallSignalSlots::reset_after_fork() noexcept {
  if (slots_ == nullptr) return;
  for (uint32_t i = 0; i < kMaxSlots; ++i)
    if (slots_[i].state.load(std::memory_order_relaxed) != 0)
      slots_[i].state.store(0, std::memory_order_relaxed);
  // Timers are not inherited by a child: the parent's ids mean nothing here.
  for (bool& live : timer_live_) live = false;
  cursor_ = 0;
}

}  // namespace profagent
