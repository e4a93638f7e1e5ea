// Memory for the collectors' open-addressed stack tables (heap buckets, contention tables):
// `max_buckets` buckets and a power-of-two index of at least 2 * max_buckets uint32 slots,
// both mmap'ed MAP_NORESERVE once (zero pages, resident only as buckets are used). Normal
// context (collector start), never from a hook.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profagent {

struct StackTableMemory {
  void* buckets = nullptr;
  uint32_t* index = nullptr;
  uint32_t index_mask = 0;
};

// Returns false (and maps nothing) if either mapping fails.
bool map_stack_table(size_t bucket_size, uint32_t max_buckets, StackTableMemory* out) noexcept;

}  // namespace profagent
