// The table of per-thread cache slots (thread_cache_slots.h). SIGNAL/HOOK CONTEXT: every
// function here runs in signal handlers and hooks: mmap, munmap and atomics only.
#include "agent/runtime/unwind/thread_cache_slots.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "agent/core/sample_path.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

// A slot: a 64-byte header (who owns it) and the payload. 18 MiB of address space reserved
// with MAP_NORESERVE; only the slots of threads that walked are ever touched.
struct alignas(64) SlotHeader {
  std::atomic<pid_t> owner;  // the owning thread's tid; 0: free
};
constexpr size_t kSlotStride = 64 + kThreadCacheSlotBytes;
static_assert(kSlotStride % 64 == 0);
// One page more than the slots: a length that is a multiple of 2 MiB is placed on a 2 MiB
// boundary (for transparent huge pages), away from the agent's other mappings; this one
// lands next to them, and the kernel joins it to a neighbour with the same flags (one
// mapping fewer for every fork of a shell to copy).
constexpr size_t kTableBytes = kSlotStride * kThreadCacheSlots + 4096;

constinit std::atomic<char*> g_table{nullptr};
// No free slot lies below this one: claims take the lowest free slot, so a program that makes
// and ends threads all its life (20,000 in RobustnessE2E) reuses the few slots its live
// threads need instead of touching the whole table.
constinit std::atomic<int> g_lowest_free{0};

// The calling thread's payload, kReleased once it gave it back (its exit).
char* const kReleased = reinterpret_cast<char*>(1);
constinit thread_local char* t_slot_payload __attribute__((tls_model("initial-exec"))) =
    nullptr;

SlotHeader& header_of(char* payload) noexcept {
  return *reinterpret_cast<SlotHeader*>(payload - 64);
}

PROFAGENT_SAMPLE_PATH char* table() noexcept {
  char* t = g_table.load(std::memory_order_acquire);
  if (t != nullptr) return t;
  void* mapped = mmap(nullptr, kTableBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapped == MAP_FAILED) return nullptr;
  char* mine = static_cast<char*>(mapped);
  if (g_table.compare_exchange_strong(t, mine, std::memory_order_acq_rel)) return mine;
  munmap(mapped, kTableBytes);  // another thread's walk mapped it meanwhile
  return t;
}

// The lowest free slot, for thread `tid`.
PROFAGENT_SAMPLE_PATH char* claim(char* t, pid_t tid) noexcept {
  int from = g_lowest_free.load(std::memory_order_acquire);
  for (int i = from; i < kThreadCacheSlots; ++i) {
    auto& h = *reinterpret_cast<SlotHeader*>(t + kSlotStride * i);
    pid_t free = 0;
    if (h.owner.load(std::memory_order_relaxed) != 0 ||
        !h.owner.compare_exchange_strong(free, tid, std::memory_order_acq_rel))
      continue;
    // (Fails if a slot below was given back meanwhile: the mark then stays there.)
    g_lowest_free.compare_exchange_strong(from, i + 1, std::memory_order_acq_rel);
    return t + kSlotStride * i + 64;
  }
  return nullptr;
}

}  // namespace

PROFAGENT_SAMPLE_PATH void* thread_cache_slot(size_t bytes) noexcept {
  if (bytes > kThreadCacheSlotBytes) return nullptr;
  char* payload = t_slot_payload;
  if (payload == kReleased) return nullptr;
  const pid_t tid = current_tid();
  if (payload != nullptr) {
    SlotHeader& h = header_of(payload);
    pid_t owner = h.owner.load(std::memory_order_relaxed);
    if (owner == tid) return payload;
    // A fork child's thread: its copy of the table has the slot under the parent's tid.
    // Nothing else in this process can own it (claims take free slots only).
    h.owner.store(tid, std::memory_order_relaxed);
    return payload;
  }
  const int saved_errno = errno;
  char* t = table();
  errno = saved_errno;
  if (t == nullptr) return nullptr;
  payload = claim(t, tid);
  if (payload == nullptr) return nullptr;
  memset(payload, 0, bytes);  // (a slot given back holds what its last thread cached)
  t_slot_payload = payload;
  return payload;
}

void release_thread_cache_slot() noexcept {
  char* payload = t_slot_payload;
  t_slot_payload = kReleased;  // (first: a walk in a signal handler now goes without)
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (payload == nullptr || payload == kReleased) return;
  header_of(payload).owner.store(0, std::memory_order_release);
  const int slot = static_cast<int>((payload - 64 - g_table.load()) / kSlotStride);
  int lowest = g_lowest_free.load(std::memory_order_relaxed);
  while (slot < lowest &&
         !g_lowest_free.compare_exchange_weak(lowest, slot, std::memory_order_acq_rel)) {
  }
}

}  // namespace profagent
