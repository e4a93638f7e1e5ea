// Internal lock callers (see lock_callers.h). HOOK CONTEXT.
#include "collectors/locks/lock_callers.h"

#include <cstdint>

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

bool is_internal_lock_caller(const void* return_address) noexcept {
  auto pc = reinterpret_cast<uintptr_t>(return_address);
  return is_agent_pc(pc);
}

}  // namespace profagent
