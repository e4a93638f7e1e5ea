// SIGNAL CONTEXT: handler() runs inside the SIGPROF dispatcher on a running program thread
// (async-signal-safe: atomics and libunwind's signal-frame unwind into a preallocated slot; no
// allocation, no lock). The request side (init/begin_round/ask/wait/take) is normal context on
// the wall sampler thread. See wall_signal_handler.h.
#include "collectors/wall_signal_handler.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#include <cerrno>

#include "agent/clock.h"
#include "agent/hook_guard.h"
#include "agent/sampling_signal.h"

namespace profagent {
namespace {

constexpr uint32_t kIdle = 0, kRequested = 1, kWriting = 2, kDone = 3, kAbandoned = 4;
constexpr uint32_t kIndexBits = 10;                     // 1024 slots
constexpr uint32_t kGenerationMask = (1u << 20) - 1;    // bits 10..29 of the cookie
static_assert(WallSignalSlots::kMaxSlots == 1u << kIndexBits);

constexpr uint32_t state_of(uint32_t generation, uint32_t phase) { return generation << 3 | phase; }
constexpr uint32_t phase_of(uint32_t state) { return state & 7; }

std::atomic<void*> g_published{nullptr};
// Answers written so far (any round); the sampler sleeps on it as a futex instead of polling.
std::atomic<uint32_t> g_answers{0};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

uint32_t* answers_word() { return reinterpret_cast<uint32_t*>(&g_answers); }

}  // namespace

constinit WallSignalSlots g_wall_slots;

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
  syscall(SYS_futex, answers_word(), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void WallSignalSlots::begin_round() noexcept {
  generation_ = (generation_ + 1) & kGenerationMask;
  if (generation_ == 0) generation_ = 1;
  used_ = 0;
}

int WallSignalSlots::ask(pid_t tid, int* err) noexcept {
  *err = 0;
  if (slots_ == nullptr) return -1;
  // Skip slots whose handler from an older round is still writing.
  while (used_ < kMaxSlots &&
         phase_of(slots_[used_].state.load(std::memory_order_acquire)) == kWriting)
    ++used_;
  if (used_ >= kMaxSlots) return -1;
  uint32_t index = used_;
  Slot& slot = slots_[index];
  slot.depth = 0;
  slot.state.store(state_of(generation_, kRequested), std::memory_order_release);
  int e = send_snapshot_signal(
      tid, static_cast<int>(kWallCookieBit | generation_ << kIndexBits | index));
  if (e != 0) {
    slot.state.store(kIdle, std::memory_order_release);
    *err = e;
    return -1;
  }
  ++used_;
  return static_cast<int>(index);
}

void WallSignalSlots::wait(int64_t deadline_mono) noexcept {
  for (;;) {
    const uint32_t seen = g_answers.load(std::memory_order_acquire);
    bool pending = false;
    for (uint32_t i = 0; i < used_ && !pending; ++i) {
      uint32_t s = slots_[i].state.load(std::memory_order_acquire);
      pending = (s == state_of(generation_, kRequested) || s == state_of(generation_, kWriting));
    }
    const int64_t left = deadline_mono - monotonic_nanos();
    if (!pending || left <= 0) return;
    // Sleep until the next answer or the deadline: every handler that finishes a slot bumps
    // the word and wakes it, and an answer that came after `seen` was read makes the wait
    // return at once (the word changed), so none is missed.
    timespec ts{static_cast<time_t>(left / 1000000000), static_cast<long>(left % 1000000000)};
    syscall(SYS_futex, answers_word(), FUTEX_WAIT_PRIVATE, seen, &ts, nullptr, 0);
  }
}

int WallSignalSlots::take(int index, uintptr_t* pcs, int max_frames) noexcept {
  if (slots_ == nullptr || index < 0 || static_cast<uint32_t>(index) >= kMaxSlots) return -1;
  Slot& slot = slots_[index];
  uint32_t expected = state_of(generation_, kRequested);
  if (slot.state.compare_exchange_strong(expected, state_of(generation_, kAbandoned),
                                         std::memory_order_acq_rel))
    return -1;  // never answered: abandoned
  for (int i = 0; i < 40 && slot.state.load(std::memory_order_acquire) ==
                                state_of(generation_, kWriting);
       ++i) {
    timespec ts{0, 50 * 1000};
    nanosleep(&ts, nullptr);
  }
  if (slot.state.load(std::memory_order_acquire) != state_of(generation_, kDone)) return -1;
  if (slot.depth == kInAgentDepth) {
    slot.state.store(kIdle, std::memory_order_release);
    return kInAgentDepth;
  }
  int depth = slot.depth < 0 ? 0 : (slot.depth > max_frames ? max_frames : slot.depth);
  for (int i = 0; i < depth; ++i) pcs[i] = slot.pcs[i];
  slot.state.store(kIdle, std::memory_order_release);
  return depth;
}

void WallSignalSlots::reset_after_fork() noexcept {
  if (slots_ == nullptr) return;
  for (uint32_t i = 0; i < kMaxSlots; ++i)
    if (slots_[i].state.load(std::memory_order_relaxed) != 0)
      slots_[i].state.store(0, std::memory_order_relaxed);
  used_ = 0;
}

}  // namespace profagent
