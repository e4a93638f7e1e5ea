// The table of per-thread cache slots (thread_cache_slots.h). SIGNAL/HOOK CONTEXT: every
// function here runs in signal handlers and hooks: mmap, munmap and atomics only.
#include "agent/runtime/unwind/thread_cache_slots.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "agent/core/large_bss.h"
#include "agent/core/sample_path.h"

namespace profagent {
namespace {

// A slot: a 64-byte header (whether it is taken) and the payload, in chunks of 256 slots
// (1.1 MiB each, mapped when a thread first needs one of them): as much memory as the cache
// took in each thread's static TLS, counted against RLIMIT_AS (and a strict overcommit
// policy) only for the threads that walk, 256 at a time. A chunk's length is not a multiple
// of 2 MiB: such a mapping is placed on a 2 MiB boundary (for transparent huge pages), away
// from the agent's other mappings; this one lands next to them. A fork child gets the chunks
// as zero pages (MADV_WIPEONFORK): every fork of a shell that walked once copied the page
// table of its slot (and its child's exec freed it) for a cache the child barely uses; the
// child's thread takes its emptied slot again at its next walk (thread_cache_slot).
struct alignas(64) SlotHeader {
  std::atomic<bool> taken;
};
constexpr size_t kSlotStride = 64 + kThreadCacheSlotBytes;
static_assert(kSlotStride % 64 == 0);
constexpr int kSlotsPerChunk = 256;
constexpr int kChunks = kThreadCacheSlots / kSlotsPerChunk;
static_assert(kChunks * kSlotsPerChunk == kThreadCacheSlots);
constexpr size_t kChunkBytes = kSlotStride * kSlotsPerChunk;
static_assert(kChunkBytes % (size_t{2} << 20) != 0);

PROFAGENT_LARGE_BSS constinit std::atomic<char*> g_chunks[kChunks] = {};  // (large_bss.h)
// No free slot lies below this one: claims take the lowest free slot, so a program that makes
// and ends threads all its life (20,000 in RobustnessE2E) reuses the few slots its live
// threads need instead of touching new ones.
constinit std::atomic<int> g_lowest_free{0};

// The calling thread's payload, kReleased once it gave it back (its exit). A fork child's
// thread keeps its own (the child's copy, taken as in the parent).
char* const kReleased = reinterpret_cast<char*>(1);
constinit thread_local char* t_slot_payload __attribute__((tls_model("initial-exec"))) =
    nullptr;
constinit thread_local int t_slot_index __attribute__((tls_model("initial-exec"))) = -1;

// Chunk c, mapped now if need be; nullptr if it cannot be.
PROFAGENT_SAMPLE_PATH char* chunk(int c) noexcept {
  char* mapped = g_chunks[c].load(std::memory_order_acquire);
  if (mapped != nullptr) return mapped;
  const int saved_errno = errno;
  void* fresh = mmap(nullptr, kChunkBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (fresh != MAP_FAILED) madvise(fresh, kChunkBytes, MADV_WIPEONFORK);  // (Linux >= 4.14)
  errno = saved_errno;
  if (fresh == MAP_FAILED) return nullptr;
  if (g_chunks[c].compare_exchange_strong(mapped, static_cast<char*>(fresh),
                                          std::memory_order_acq_rel))
    return static_cast<char*>(fresh);
  munmap(fresh, kChunkBytes);  // another thread's walk mapped it meanwhile
  return mapped;
}

SlotHeader& header(char* base, int i) noexcept {
  return *reinterpret_cast<SlotHeader*>(base + kSlotStride * (i % kSlotsPerChunk));
}

// The lowest free slot; its index in *index.
PROFAGENT_SAMPLE_PATH char* claim(int* index) noexcept {
  const int from = g_lowest_free.load(std::memory_order_acquire);
  for (int i = from; i < kThreadCacheSlots; ++i) {
    char* base = chunk(i / kSlotsPerChunk);
    if (base == nullptr) return nullptr;
    SlotHeader& h = header(base, i);
    bool free = false;
    if (h.taken.load(std::memory_order_relaxed) ||
        !h.taken.compare_exchange_strong(free, true, std::memory_order_acq_rel))
      continue;
    // Raised only past the slot it named: a slot between it and this one given back during
    // the scan keeps the mark there.
    if (i == from) {
      int expected = from;
      g_lowest_free.compare_exchange_strong(expected, i + 1, std::memory_order_acq_rel);
    }
    *index = i;
    return base + kSlotStride * (i % kSlotsPerChunk) + 64;
  }
  return nullptr;
}

}  // namespace

PROFAGENT_SAMPLE_PATH void* thread_cache_slot(size_t bytes) noexcept {
  if (bytes > kThreadCacheSlotBytes) return nullptr;
  char* payload = t_slot_payload;
  if (payload == kReleased) return nullptr;
  if (payload != nullptr) {
    std::atomic<bool>& taken = reinterpret_cast<SlotHeader*>(payload - 64)->taken;
    if (__builtin_expect(taken.load(std::memory_order_relaxed), 1)) return payload;
    // A fork child's thread: the wipe made its slot a free, empty one. Taken again (no fork
    // handler writes the table or the thread's own variables for it: most children exec at
    // once), unless a thread the child made since took it first.
    bool free = false;
    if (taken.compare_exchange_strong(free, true, std::memory_order_acq_rel)) return payload;
  }
  int index = -1;
  payload = claim(&index);
  if (payload == nullptr) return nullptr;
  memset(payload, 0, bytes);  // (a slot given back holds what its last thread cached)
  std::atomic_signal_fence(std::memory_order_seq_cst);  // (zero before a nested walk sees it)
  t_slot_index = index;
  t_slot_payload = payload;
  return payload;
}

void release_thread_cache_slot() noexcept {
  char* payload = t_slot_payload;
  t_slot_payload = kReleased;  // (first: a walk in a signal handler now goes without)
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (payload == nullptr || payload == kReleased) return;
  reinterpret_cast<SlotHeader*>(payload - 64)->taken.store(false, std::memory_order_release);
  const int slot = t_slot_index;
  int lowest = g_lowest_free.load(std::memory_order_relaxed);
  while (slot < lowest &&
         !g_lowest_free.compare_exchange_weak(lowest, slot, std::memory_order_acq_rel)) {
  }
}

}  // namespace profagent
