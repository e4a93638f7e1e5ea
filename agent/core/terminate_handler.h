// The std::terminate handler of the agent's own C++ runtime (libstdc++ is linked into
// libprofagent.so, hidden), installed by agent/constructor.cc in place of libstdc++'s. Any
// context: it allocates nothing and writes one line to the program's stderr (from any agent
// thread: program_stderr.h) before it aborts.
#pragma once

namespace profagent {

// Writes "profagent: internal error: std::terminate called in the agent", with what() of the
// exception being handled when it is a std::exception, and aborts. Called only when the
// agent's own code reaches std::terminate (an exception escaping a noexcept function despite
// run_contained, contained.h); the program's C++ runtime keeps its own handler.
[[noreturn]] void agent_terminate() noexcept;

}  // namespace profagent
