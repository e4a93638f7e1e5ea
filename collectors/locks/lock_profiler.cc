// Contended-path bookkeeping for the lock and wait hooks (see lock_profiler.h). HOOK CONTEXT.
#include "agent/core/large_bss.h"
#include "collectors/locks/lock_profiler.h"

#include "agent/core/cost_clock.h"

#include <cerrno>

#include "agent/core/clock.h"
#include "collectors/common/self_stats.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/signal_stack_room.h"
#include "agent/runtime/unwind/unwinder.h"
#include "collectors/locks/contention_kinds.h"
#include "collectors/locks/lock_sampling.h"

namespace profagent {

std::atomic<int64_t> g_block_rate{0};
std::atomic<int64_t> g_mutex_fraction{0};
constinit ContentionTable g_block_table;
constinit ContentionTable g_mutex_table;
PROFAGENT_LARGE_BSS constinit LockWaitTable g_lock_waits;

namespace {

int64_t now_nanos() noexcept { return monotonic_nanos(); }

// Unwinds the calling thread (dropping the agent's frames) and adds one weighted event.
// Its cost goes into the profiles' self-accounting comments (hooks=...).
// The walk and the record, out of line: their 64-frame array is on the stack only once
// record_at_caller has checked there is room for it.
__attribute__((noinline)) void record_walked(ContentionTable& table, LostCounter& lost,
                                             const ContentionWeight& w) noexcept {
  uint64_t start = cost_clock_now();
  uintptr_t pcs[kMaxFrames];
  int depth = unwind_from_hook(pcs, kMaxFrames);
  if (depth <= 0) {  // no stack (no room for the walk): counted, not filed under nothing
    self_note_lost(lost, static_cast<uint64_t>(w.count + 0.5), w.delay);  // (no libm)
    self_add_cost_ticks(SelfCost::kHooks, cost_clock_now() - start);
    return;
  }
  char name[16];
  current_thread_name(name);
  table.record(pcs, depth, static_cast<int32_t>(current_tid()), name, w.count, w.delay);
  self_add_cost_ticks(SelfCost::kHooks, cost_clock_now() - start);
}

// A program handler on a small altstack that takes a lock: no room for the walk, so the
// event is counted as lost.
void record_at_caller(ContentionTable& table, LostCounter& lost,
                      const ContentionWeight& w) noexcept {
  StackRoom room = current_stack_room();
  if (room.bytes < kRoomForHookSample) {
    self_note_lost(lost, static_cast<uint64_t>(w.count + 0.5), w.delay);
    return;
  }
  SamplingSignalHeldOnAltstack hold(room);
  record_walked(table, lost, w);
}

void record_block_locked(int64_t delay) noexcept {
  int64_t rate = g_block_rate.load(std::memory_order_relaxed);
  if (rate <= 0) return;
  ContentionWeight w = block_event_weight(delay, rate, lock_random());
  if (w.record) record_at_caller(g_block_table, g_block_lost, w);
}

}  // namespace

void lock_wait_begin(LockWait* wait, const void* lock) noexcept {
  int saved = errno;
  AgentScope scope;
  wait->start = now_nanos();
  if (g_mutex_fraction.load(std::memory_order_relaxed) > 0)
    wait->ticket = g_lock_waits.arrive(reinterpret_cast<uintptr_t>(lock), wait->start);
  errno = saved;
}

void lock_wait_end(const LockWait& wait, bool waited) noexcept {
  int saved = errno;
  AgentScope scope;
  int64_t end = now_nanos();
  g_lock_waits.depart(wait.ticket);
  if (waited) record_block_locked(end - wait.start);
  errno = saved;
}

void record_block_wait(int64_t start, int64_t end) noexcept {
  int saved = errno;
  AgentScope scope;
  record_block_locked(end - start);
  errno = saved;
}

UnlockCharge unlock_charge(const void* lock) noexcept {
  UnlockCharge c;
  int saved = errno;
  AgentScope scope;
  c.delay = g_lock_waits.charge(reinterpret_cast<uintptr_t>(lock), now_nanos, &c.waiters);
  errno = saved;
  return c;
}

void unlock_finish(const UnlockCharge& charge) noexcept {
  if (charge.waiters == 0) return;
  int saved = errno;
  AgentScope scope;
  int64_t fraction = g_mutex_fraction.load(std::memory_order_relaxed);
  ContentionWeight w = mutex_event_weight(charge.delay, fraction, lock_random());
  if (w.record) record_at_caller(g_mutex_table, g_mutex_lost, w);
  errno = saved;
}

}  // namespace profagent
