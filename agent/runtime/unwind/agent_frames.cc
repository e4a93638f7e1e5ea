// Whether a waiting thread is running the agent's own code (see agent_frames.h). Normal
// context.
#include "agent/runtime/unwind/agent_frames.h"

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

FrameOwner frame_owner(uintptr_t lookup) noexcept {
  if (is_signal_return_frame(lookup)) return FrameOwner::kSignalReturn;
  if (is_agent_pc(lookup)) return FrameOwner::kAgent;
  return is_libc_pc(lookup) ? FrameOwner::kLibc : FrameOwner::kOther;
}

bool stopped_in_agent_code(const uintptr_t* pcs, int depth,
                           FrameOwner (*owner)(uintptr_t)) noexcept {
  if (depth <= 0) return false;
  if (owner(pcs[0]) == FrameOwner::kAgent) return true;
  int i = 0;
  while (i < depth && owner(pcs[i]) == FrameOwner::kLibc) ++i;  // what a handler called
  if (i == depth || owner(pcs[i]) != FrameOwner::kAgent) return false;
  for (; i < depth; ++i) {
    FrameOwner o = owner(pcs[i]);
    if (o == FrameOwner::kSignalReturn) return true;  // only the agent's frames above it
    if (o != FrameOwner::kAgent) return false;
  }
  return false;  // agent frames under libc, no signal: a hook's call on the program's behalf
}

}  // namespace profagent
