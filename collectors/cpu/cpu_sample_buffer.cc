// CPU sample tables written by the SIGPROF handler. add() and init() are SIGNAL CONTEXT
// (lock-free, allocation-free, bounded probing; init() maps with mmap); prepare() and drain()
// are normal context (the dump thread), and their page touching (touch_ahead: atomic no-op
// writes) may run while handlers add.
#include "collectors/cpu/cpu_sample_buffer.h"

#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "agent/core/sample_path.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

uint64_t hash_stack(int32_t tid, const uintptr_t* pcs, uint32_t depth) noexcept {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(tid) ^ (uint64_t{depth} << 40);
  for (uint32_t i = 0; i < depth; ++i) {
    h ^= pcs[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
  }
  return h;
}

}  // namespace

PROFAGENT_SAMPLE_PATH bool CpuSampleBuffer::init() noexcept {
  if (mapping() != nullptr) return true;
  const int saved_errno = errno;  // (a handler's caller sees its own)
  // Both tables in one mapping: two system calls and one mapping for every fork to copy,
  // instead of four and two. Zero pages: every entry kEmpty.
  void* map = mmap(nullptr, 2 * kTableBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    errno = saved_errno;
    return false;
  }
  // A fork child starts with zero pages instead of copy-on-write copies of ours, so the
  // parent's handlers take no copy fault on its touched pages after every fork (a shell).
  // The child drops the parent's samples anyway (clear()). Linux >= 4.14; else ignored.
  const bool wiped = madvise(map, 2 * kTableBytes, MADV_WIPEONFORK) == 0;
  char* none = nullptr;
  if (map_.compare_exchange_strong(none, static_cast<char*>(map), std::memory_order_acq_rel))
    wiped_on_fork_.store(wiped, std::memory_order_relaxed);
  else
    munmap(map, 2 * kTableBytes);  // another thread's handler mapped them meanwhile
  errno = saved_errno;
  // Nothing is touched here: prepare() does it on the dump thread, off the program's start.
  return true;
}

void CpuSampleBuffer::prepare() noexcept {
  if (!init()) return;  // (the handlers' add() tries again)
  // Only the table the handlers fill first: the other one is made ready at the first drain,
  // which only a process that takes samples reaches (most of a shell script's never do).
  touch_ahead(active_.load(std::memory_order_acquire), kTouchedAtStart);
}

namespace {

// Makes the pages of [first, end) resident and private with a write to each: a no-op atomic
// OR on its first whole word in range, so a handler writing the same word meanwhile loses
// nothing, and the page is not copied from the zero page later, in a handler.
void touch_pages(uintptr_t first, uintptr_t end) noexcept {
  constexpr uintptr_t kPage = 4096;
  for (uintptr_t page = first & ~(kPage - 1); page < end; page += kPage) {
    uintptr_t word = page < first ? (first + 7) & ~uintptr_t{7} : page;
    if (word + 8 <= end) __atomic_fetch_or(reinterpret_cast<uint64_t*>(word), 0, __ATOMIC_RELAXED);
  }
}

}  // namespace

void CpuSampleBuffer::touch_ahead(int t, uint32_t entries) noexcept {
  char* map = mapping();
  if (map == nullptr) return;
  if (!index_resident_[t]) {  // once, so the handler's first probes do not fault on it
    auto at = reinterpret_cast<uintptr_t>(index(map, t));
    touch_pages(at, at + sizeof(uint32_t) * kEntries);
    index_resident_[t] = true;
  }
  if (entries > kEntries) entries = kEntries;
  if (entries <= touched_[t]) return;
  touch_pages(reinterpret_cast<uintptr_t>(&table(map, t)[touched_[t]]),
              reinterpret_cast<uintptr_t>(&table(map, t)[entries]));
  touched_[t] = entries;
}

PROFAGENT_SAMPLE_PATH bool CpuSampleBuffer::add(int32_t tid, const uintptr_t* pcs, uint32_t depth,
                          uint64_t weight) noexcept {
  // seq_cst on writers_ and active_ (here and in drain): "announce, then re-check active_"
  // against drain's "flip active_, then read writers_" is a store-buffering pattern; with
  // acquire/release alone both sides may read the old values (x86 reorders drain's store after
  // its load), and drain would read a table a handler is still writing into.
  int idx = active_.load(std::memory_order_seq_cst);
  writers_[idx].fetch_add(1, std::memory_order_seq_cst);
  if (active_.load(std::memory_order_seq_cst) != idx) {
    // A drain flipped the tables between our two loads: use the new active table.
    writers_[idx].fetch_sub(1, std::memory_order_release);
    idx = 1 - idx;
    writers_[idx].fetch_add(1, std::memory_order_seq_cst);
  }
  char* map = mapping();
  if (map == nullptr && init()) map = mapping();  // the process's first sample
  Entry* const entries = table(map, idx);
  std::atomic<uint32_t>* const slots = index(map, idx);
  bool stored = false;
  if (entries != nullptr) {
    uint64_t h = hash_stack(tid, pcs, depth);
    uint32_t mine = 0;  // entry number + 1 of the entry this call filled, 0 = none yet
    for (uint32_t probe = 0; probe < kMaxProbes && !stored; ++probe) {
      std::atomic<uint32_t>& slot = slots[(h + probe) & (kEntries - 1)];
      uint32_t v = slot.load(std::memory_order_acquire);
      if (v == 0) {
        if (mine == 0) {
          uint32_t n = claimed_count_[idx].fetch_add(1, std::memory_order_relaxed);
          if (n >= kEntries) break;  // full: lost
          Entry& e = entries[n];
          e.tid = tid;
          e.depth = depth;
          e.hash = h;
          memcpy(e.pcs, pcs, depth * sizeof(uintptr_t));
          e.count.store(weight, std::memory_order_relaxed);
          e.state.store(kReady, std::memory_order_release);
          mine = n + 1;
        }
        // The entry is recorded (drain visits every claimed entry); the index only lets
        // later samples of the same stack find it. Losing the race for this slot to another
        // writer leaves a duplicate key, merged at drain time.
        stored = true;
        slot.compare_exchange_strong(v, mine, std::memory_order_acq_rel);
        break;
      }
      Entry& e = entries[v - 1];
      if (e.state.load(std::memory_order_acquire) == kReady && e.hash == h && e.tid == tid &&
          e.depth == depth && memcmp(e.pcs, pcs, depth * sizeof(uintptr_t)) == 0) {
        e.count.fetch_add(weight, std::memory_order_relaxed);
        stored = true;
      }
    }
  }
  writers_[idx].fetch_sub(1, std::memory_order_release);
  return stored;
}

void CpuSampleBuffer::drain(
    const std::function<void(int32_t, const uintptr_t*, uint32_t, uint64_t)>& fn) {
  if (mapping() == nullptr) return;
  int old = active_.load(std::memory_order_acquire);
  // Nothing claimed since the last drain: no flip and no page touched (a process that takes
  // no sample, as most of a shell script's, pays nothing here at its exit). A handler adding
  // meanwhile writes into the table that stays active, drained next time.
  if (claimed_count_[old].load(std::memory_order_acquire) == 0) return;
  // The next period's table gets room for twice this period's stacks before it is used.
  touch_ahead(1 - old, 2 * claimed_count_[old].load(std::memory_order_relaxed));
  active_.store(1 - old, std::memory_order_seq_cst);  // seq_cst: see add()
  // Wait (bounded, ~100 ms) for handlers still writing into the old table. A handler runs for
  // microseconds; only a thread stopped inside one (SIGSTOP, ptrace) can outlast this, and
  // then its single in-flight sample may be dropped.
  for (int i = 0; i < 1000 && writers_[old].load(std::memory_order_seq_cst) != 0; ++i) {
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
  // A writer still inside (stopped in the handler) may claim a slot after the list is read:
  // then the whole table is scanned, as it is at most once in such a rare case.
  bool full_scan = writers_[old].load(std::memory_order_seq_cst) != 0;
  for_each_claimed(old, full_scan, [&](Entry& e) {
    if (e.state.load(std::memory_order_acquire) != kReady) return;
    fn(e.tid, e.pcs, e.depth, e.count.load(std::memory_order_relaxed));
    e.state.store(kEmpty, std::memory_order_release);
  });
}

template <typename Fn>
void CpuSampleBuffer::for_each_claimed(int t, bool full_scan, Fn&& fn) {
  char* map = mapping();
  Entry* entries = table(map, t);
  uint32_t n = claimed_count_[t].load(std::memory_order_acquire);
  if (full_scan || n > kEntries) n = kEntries;
  for (uint32_t i = 0; i < n; ++i) fn(entries[i]);
  if (n > 0) memset(static_cast<void*>(index(map, t)), 0, sizeof(uint32_t) * kEntries);
  claimed_count_[t].store(0, std::memory_order_release);
}

PROFAGENT_FORK_PATH void CpuSampleBuffer::clear() noexcept {
  for (int t = 0; t < 2 && mapping() != nullptr; ++t) {  // (none mapped: nothing recorded)
    // Zero pages already (every state kEmpty) in a fork child when MADV_WIPEONFORK took:
    // writing each claimed entry again would only fault in pages (a shell's fork children
    // exec at once).
    if (wiped_on_fork_.load(std::memory_order_relaxed)) store_if_changed(claimed_count_[t], 0);
    else for_each_claimed(t, false, [](Entry& e) { store_if_changed(e.state, kEmpty); });
    // Zero pages, or copy-on-write copies of the parent's: nothing is touched ahead here
    // (a shell's fork children exec at once); the child's first samples fault their pages
    // in, and its first drain touches ahead as in any process.
    assign_if_changed(touched_[t], 0u);
    assign_if_changed(index_resident_[t], false);
  }
  store_if_changed(writers_[0], 0);
  store_if_changed(writers_[1], 0);
}

}  // namespace profagent
