// Waiter bookkeeping of the mutex profile (see lock_wait_table.h). HOOK CONTEXT throughout.
#include "collectors/locks/lock_wait_table.h"

namespace profagent {

LockWaitTable::Entry* LockWaitTable::find(uintptr_t lock) noexcept {
  uint32_t h = home(lock);
  for (uint32_t i = 0; i < kProbe; ++i) {
    Entry& e = entries_[(h + i) & (kSlots - 1)];
    uintptr_t k = e.key.load(std::memory_order_acquire);
    if (k == lock) return &e;
    if (k == 0) return nullptr;  // keys fill a window front to back and never return to 0
  }
  return nullptr;
}

LockWaitTable::Entry* LockWaitTable::claim(uintptr_t lock) noexcept {
  SpinGuard guard(claim_lock_);
  if (Entry* e = find(lock)) return e;  // claimed by another waiter meanwhile
  claimed_any_.store(true, std::memory_order_relaxed);  // before any entry is written
  uint32_t h = home(lock);
  for (uint32_t i = 0; i < kProbe; ++i) {
    Entry& e = entries_[(h + i) & (kSlots - 1)];
    uintptr_t k = e.key.load(std::memory_order_acquire);
    if (k == 0) {
      SpinGuard entry_guard(e.lock);
      e.sum_start = 0;
      e.last_reset = 0;
      e.key.store(lock, std::memory_order_release);
      return &e;
    }
    // An idle entry of another lock (no waiter now) is reused. A waiter that found it under
    // the old key re-checks the key under the entry lock and retries.
    if (e.waiters.load(std::memory_order_relaxed) == 0) {
      SpinGuard entry_guard(e.lock);
      if (e.waiters.load(std::memory_order_relaxed) != 0) continue;
      e.sum_start = 0;
      e.last_reset = 0;
      e.key.store(lock, std::memory_order_release);
      return &e;
    }
  }
  return nullptr;
}

WaitTicket LockWaitTable::arrive(uintptr_t lock, int64_t start) noexcept {
  WaitTicket ticket;
  for (int attempt = 0; attempt < 4; ++attempt) {
    Entry* e = find(lock);
    if (e == nullptr) e = claim(lock);
    if (e == nullptr) break;
    SpinGuard guard(e->lock);
    if (e->key.load(std::memory_order_relaxed) != lock) continue;  // reused meanwhile
    // An unlock charged after our clock read but before we registered did not count us:
    // start no earlier than that unlock.
    int64_t effective = start > e->last_reset ? start : e->last_reset;
    e->sum_start += effective;
    e->waiters.store(e->waiters.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    total_.fetch_add(1, std::memory_order_relaxed);
    ticket.slot = static_cast<uint32_t>(e - entries_) + 1;
    ticket.start = effective;
    return ticket;
  }
  untracked_.fetch_add(1, std::memory_order_relaxed);
  return ticket;
}

void LockWaitTable::depart(const WaitTicket& ticket) noexcept {
  if (ticket.slot == 0 || ticket.slot > kSlots) return;
  Entry& e = entries_[ticket.slot - 1];
  {
    // While we are counted in `waiters` the entry cannot be reused: the key is still ours.
    SpinGuard guard(e.lock);
    int32_t w = e.waiters.load(std::memory_order_relaxed);
    if (w <= 0) return;  // cleared after fork
    e.sum_start -= ticket.start > e.last_reset ? ticket.start : e.last_reset;
    e.waiters.store(w - 1, std::memory_order_relaxed);
    if (w == 1) e.sum_start = 0;  // exact anyway; keeps rounding-free state obvious
  }
  total_.fetch_sub(1, std::memory_order_relaxed);
}

int64_t LockWaitTable::charge(uintptr_t lock, int64_t (*clock)() noexcept,
                              int32_t* waiters) noexcept {
  *waiters = 0;
  Entry* e = find(lock);
  if (e == nullptr || e->waiters.load(std::memory_order_relaxed) == 0) return 0;
  SpinGuard guard(e->lock);
  if (e->key.load(std::memory_order_relaxed) != lock) return 0;
  int32_t w = e->waiters.load(std::memory_order_relaxed);
  if (w <= 0) return 0;
  int64_t now = clock();
  __int128 total_now = static_cast<__int128>(w) * now;
  __int128 delay = total_now - e->sum_start;
  e->sum_start = total_now;
  e->last_reset = now;
  *waiters = w;
  if (delay < 0) return 0;
  return delay > INT64_MAX ? INT64_MAX : static_cast<int64_t>(delay);
}

void LockWaitTable::clear() noexcept {
  // Entries are written only by a claim, under claim_lock_: with none ever claimed (and no
  // claim under way at a fork) they are all zeros already. A fork child that looked at them
  // anyway faulted in the table's 16 pages, and one that wrote them copied them.
  // (Written only when not already so: a fork child copies no page for a value it keeps.)
  const bool claiming = claim_lock_.held_at_fork();
  if (claiming) claim_lock_.reset();
  if (total_.load(std::memory_order_relaxed) != 0) total_.store(0, std::memory_order_relaxed);
  if (!claiming && !claimed_any_.load(std::memory_order_relaxed)) return;
  for (Entry& e : entries_) {
    // Never claimed (a key is stored last, under the entry's lock): all zeros already.
    if (e.key.load(std::memory_order_relaxed) == 0 && !e.lock.held_at_fork()) continue;
    e.lock.reset();
    e.key.store(0, std::memory_order_relaxed);
    e.waiters.store(0, std::memory_order_relaxed);
    e.sum_start = 0;
    e.last_reset = 0;
  }
  claimed_any_.store(false, std::memory_order_relaxed);  // all zeros again
}

}  // namespace profagent
