// Internal lock callers (see lock_callers.h).
#include "collectors/lock_callers.h"

#include <link.h>

#include <atomic>
#include <cstring>

#include "agent/unwind/unwinder.h"

namespace profagent {
namespace {

constexpr int kMaxRanges = 8;
struct Range {
  uintptr_t lo, hi;
};
Range g_ranges[kMaxRanges];
std::atomic<int> g_range_count{0};

int collect(dl_phdr_info* info, size_t, void* data) {
  int* n = static_cast<int*>(data);
  if (info->dlpi_name == nullptr || strstr(info->dlpi_name, "libunwind") == nullptr) return 0;
  for (int i = 0; i < info->dlpi_phnum && *n < kMaxRanges; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    g_ranges[(*n)++] = {lo, lo + ph.p_memsz};
  }
  return 0;
}

}  // namespace

void find_internal_lock_callers() noexcept {
  if (g_range_count.load(std::memory_order_acquire) != 0) return;
  int n = 0;
  dl_iterate_phdr(collect, &n);
  g_range_count.store(n, std::memory_order_release);
}

bool is_internal_lock_caller(const void* return_address) noexcept {
  auto pc = reinterpret_cast<uintptr_t>(return_address);
  int n = g_range_count.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (pc - g_ranges[i].lo < g_ranges[i].hi - g_ranges[i].lo) return true;
  return is_agent_pc(pc);
}

}  // namespace profagent
