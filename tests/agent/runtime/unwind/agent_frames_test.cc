// The rule that tells a waiting thread running the agent's own code (agent_frames.h), over
// made-up stacks: the agent's handler and what it calls in libc are the agent's; a program
// handler the agent forwarded to, or a libc wait a hook made for the program, are not. And
// the real classification's libc part.
#include "agent/runtime/unwind/agent_frames.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <vector>

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

// Made-up addresses: 0xa000.. the agent, 0xb000.. libc, 0xc000 the signal trampoline's
// return, anything else the program.
constexpr uintptr_t kAgent = 0xa000, kLibc = 0xb000, kSigreturn = 0xc000, kProgram = 0x5000;

FrameOwner made_up_owner(uintptr_t pc) {
  switch (pc & ~uintptr_t{0xfff}) {
    case kAgent: return FrameOwner::kAgent;
    case kLibc: return FrameOwner::kLibc;
    case kSigreturn: return FrameOwner::kSignalReturn;
    default: return FrameOwner::kOther;
  }
}

bool agent_runs(const std::vector<uintptr_t>& pcs) {
  return stopped_in_agent_code(pcs.data(), static_cast<int>(pcs.size()), made_up_owner);
}

TEST(AgentFrames, TheAgentsSignalHandlerIsTheAgentsEvenInsideTheLibcItCalls) {
  // CpuSampleBuffer::add, record_walked, cpu_sample_handler, dispatch | burn, main
  EXPECT_TRUE(agent_runs({kAgent + 1, kAgent + 2, kAgent + 3, kAgent + 4, kSigreturn,
                          kProgram + 1, kProgram + 2}));
  // memcpy called by add, then the same
  EXPECT_TRUE(agent_runs({kLibc + 1, kAgent + 1, kAgent + 3, kAgent + 4, kSigreturn,
                          kProgram + 1}));
  // Any agent code innermost: a fault on a hook's own data
  EXPECT_TRUE(agent_runs({kAgent + 9, kProgram + 1}));
}

TEST(AgentFrames, AProgramHandlerTheAgentForwardedToIsTheProgramsWait) {
  // read() in the program's handler, called by the agent's forwarding and dispatcher
  EXPECT_FALSE(agent_runs({kLibc + 1, kProgram + 7, kAgent + 5, kAgent + 4, kSigreturn,
                           kProgram + 1}));
  // the same with the forwarding inlined into the dispatcher
  EXPECT_FALSE(agent_runs({kLibc + 1, kProgram + 7, kAgent + 4, kSigreturn, kProgram + 1}));
  // the program's handler calling malloc: libc's futex under the agent's malloc hook
  EXPECT_FALSE(agent_runs({kLibc + 2, kAgent + 6, kProgram + 7, kAgent + 4, kSigreturn,
                           kProgram + 1}));
}

TEST(AgentFrames, ALibcWaitAHookMadeForTheProgramIsTheProgramsWait) {
  // mmap inside libc's malloc, called by the agent's malloc hook from the program
  EXPECT_FALSE(agent_runs({kLibc + 1, kLibc + 2, kAgent + 6, kProgram + 1, kProgram + 2}));
  EXPECT_FALSE(agent_runs({kLibc + 1, kProgram + 1}));  // a plain wait
  EXPECT_FALSE(agent_runs({kLibc + 1, kLibc + 2}));
  EXPECT_FALSE(agent_runs({}));
}

TEST(AgentFrames, TheRealClassificationKnowsLibcsCode) {
  EXPECT_TRUE(is_libc_pc(reinterpret_cast<uintptr_t>(&getpid)));
  EXPECT_TRUE(is_libc_pc(reinterpret_cast<uintptr_t>(&sysconf)));
  EXPECT_EQ(frame_owner(reinterpret_cast<uintptr_t>(&sysconf)), FrameOwner::kLibc);
  // This test's own code (the agent's code too, linked into a test executable, is not
  // "the agent": that is libprofagent.so only).
  const auto here = reinterpret_cast<uintptr_t>(&made_up_owner);
  EXPECT_FALSE(is_libc_pc(here));
  EXPECT_EQ(frame_owner(here), FrameOwner::kOther);
  EXPECT_EQ(frame_owner(reinterpret_cast<uintptr_t>(&frame_owner)), FrameOwner::kOther);
}

}  // namespace
}  // namespace profagent
