// Checking a cached unwind table (see table_check.h). Normal context (the dump thread); no
// allocation, no locks.
#include "agent/core/large_bss.h"
#include "agent/runtime/unwind/table_check.h"
#include "agent/core/code_layout.h"

#include <cstring>


namespace profagent {
namespace {

// Enough for every object of a large program (a Python with its extensions loads ~100).
constexpr size_t kMaxChecks = 1024;
PROFAGENT_LARGE_BSS constinit TableCheck g_checks[kMaxChecks];
constinit std::atomic<size_t> g_used{0};

}  // namespace

uint64_t unwind_cache_checksum(const void* data, size_t bytes) noexcept {
  // Word-wise multiply-xor in four independent lanes (about a word per cycle).
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t lane[4] = {0x9e3779b97f4a7c15ull ^ bytes, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                      0x27d4eb2f165667c5ull};
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      memcpy(&w, p + i + 8 * k, 8);
      lane[k] = (lane[k] ^ w) * 0xff51afd7ed558ccdull;
    }
  }
  uint64_t h = lane[0];
  for (int k = 1; k < 4; ++k) h = (h ^ (lane[k] >> 29) ^ lane[k]) * 0xc4ceb9fe1a85ec53ull;
  for (; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 32);
}

PROFAGENT_START_PATH
TableCheck* new_table_check(const void* payload, size_t bytes, uint64_t expected) noexcept {
  size_t slot = g_used.fetch_add(1, std::memory_order_relaxed);
  if (slot >= kMaxChecks) {
    g_used.store(kMaxChecks, std::memory_order_relaxed);
    return nullptr;
  }
  TableCheck* c = &g_checks[slot];
  c->payload = payload;
  c->bytes = bytes;
  c->expected = expected;
  c->state.store(TableCheck::kUnchecked, std::memory_order_release);
  return c;
}

PROFAGENT_FORK_PATH void table_checks_after_fork_child() noexcept {
  size_t used = g_used.load(std::memory_order_relaxed);
  for (size_t i = 0; i < used && i < kMaxChecks; ++i) {
    // Loaded first: a compare-and-swap that fails still writes (a copy-on-write fault).
    if (g_checks[i].state.load(std::memory_order_relaxed) != TableCheck::kChecking) continue;
    uint8_t checking = TableCheck::kChecking;
    g_checks[i].state.compare_exchange_strong(checking, TableCheck::kUnchecked);
  }
}

bool check_table(TableCheck* check) noexcept {
  if (check == nullptr) return true;
  uint8_t state = check->state.load(std::memory_order_acquire);
  if (state != TableCheck::kUnchecked) return state == TableCheck::kPassed;
  if (!check->state.compare_exchange_strong(state, TableCheck::kChecking,
                                            std::memory_order_acq_rel))
    return check->state.load(std::memory_order_acquire) == TableCheck::kPassed;
  bool ok = unwind_cache_checksum(check->payload, check->bytes) == check->expected;
  check->state.store(ok ? TableCheck::kPassed : TableCheck::kFailed, std::memory_order_release);
  return ok;
}

}  // namespace profagent
