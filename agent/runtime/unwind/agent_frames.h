// Whether a thread walked while it waits (unwind_thread_from_registers) is running the agent's
// own code: the rule, over a classification of each frame. Normal context (the wall sampler
// thread): frame_owner() finds libc's code at its first call.
#pragma once

#include <cstdint>

namespace profagent {

// Who a frame of a walked stack belongs to.
enum class FrameOwner : uint8_t {
  kAgent,         // libprofagent.so's code
  kSignalReturn,  // the kernel's return into glibc's signal trampoline (a signal frame)
  kLibc,          // any other code of libc
  kOther,         // the program's, or another library's
};

// The real classification of a frame (a return address - 1; the first frame is exact).
FrameOwner frame_owner(uintptr_t lookup) noexcept;

// True if the thread stopped at `pcs` is running the agent's own code:
//  - its innermost frame is the agent's (a page fault in a hook's own data, say); or
//  - it is inside one of the agent's signal handlers: above the innermost signal frame,
//    after any libc frames the handler called (memcpy, memcmp), only the agent's frames.
// A program handler the agent's dispatcher forwarded a signal to is the program's (its frame
// sits between the agent's), and so is a wait in libc that a hook called on the program's
// behalf (no signal frame above the hook).
bool stopped_in_agent_code(const uintptr_t* pcs, int depth,
                           FrameOwner (*owner)(uintptr_t) = frame_owner) noexcept;

}  // namespace profagent
