// Memory and key hashing for the collectors' open-addressed stack tables (heap buckets,
// contention tables). map_stack_table: `max_buckets` buckets and a power-of-two index of at
// least 2 * max_buckets uint32 slots, both mmap'ed MAP_NORESERVE once (zero pages, resident
// only as buckets are used); normal context (collector start), never from a hook.
// hash_stack_key: HOOK CONTEXT, pure arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace profagent {

struct StackTableMemory {
  void* buckets = nullptr;
  uint32_t* index = nullptr;
  uint32_t index_mask = 0;
};

// Returns false (and maps nothing) if either mapping fails.
bool map_stack_table(size_t bucket_size, uint32_t max_buckets, StackTableMemory* out) noexcept;

// Hash of a bucket key: a stack, the recording thread's name, and one more word (the heap's
// size class; 0 where the table has none).
inline uint64_t hash_stack_key(const uintptr_t* pcs, int depth, const char (&name)[16],
                               uint64_t extra) noexcept {
  uint64_t name_bits[2];
  memcpy(name_bits, name, sizeof name_bits);
  uint64_t h = 0xcbf29ce484222325ULL ^ extra ^ (name_bits[0] * 0x9e3779b97f4a7c15ULL) ^ name_bits[1];
  for (int i = 0; i < depth; ++i) {
    h ^= pcs[i];
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

}  // namespace profagent
