// Mapping of a stack table's buckets and index (see stack_table.h). Normal context.
#include "collectors/common/stack_table.h"

#include <sys/mman.h>

#include "agent/core/code_layout.h"

namespace profagent {

PROFAGENT_START_PATH
bool map_stack_table(size_t bucket_size, uint32_t max_buckets, bool wipe_on_fork,
                     StackTableMemory* out) noexcept {
  uint32_t index_size = 1;
  while (index_size < 2 * max_buckets) index_size <<= 1;
  // One mapping, the index on the pages after the buckets': one system call and one more
  // mapping of the process instead of two (each copied at every fork of a shell, and torn
  // down at its child's exec).
  constexpr size_t kPage = 4096;
  size_t bucket_bytes = (bucket_size * max_buckets + kPage - 1) & ~(kPage - 1);
  size_t index_bytes = sizeof(uint32_t) * index_size;
  void* buckets = mmap(nullptr, bucket_bytes + index_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (buckets == MAP_FAILED) return false;
  out->wiped_on_fork =
      wipe_on_fork && madvise(buckets, bucket_bytes + index_bytes, MADV_WIPEONFORK) == 0;
  out->buckets = buckets;
  out->index = reinterpret_cast<uint32_t*>(static_cast<char*>(buckets) + bucket_bytes);
  out->index_mask = index_size - 1;
  return true;
}

}  // namespace profagent
