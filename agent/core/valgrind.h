// Whether this process runs on valgrind's synthetic CPU. Any context (a handful of
// instructions, no system call).
//
// Under valgrind the agent stays off: valgrind cannot deliver a sampling signal that arrives
// while the program's stack must grow (a CPU-bound program under memcheck died of SIGSEGV in
// 4 runs of 4, "Can't extend stack ... during signal delivery"), and memcheck checks every
// allocation itself, so a sampled object served from the agent's region would escape its
// checks. gperftools' CPU profiler dies there of SIGPROF.
#pragma once

namespace profagent {

// True on valgrind (its RUNNING_ON_VALGRIND client request answers), false on a real CPU.
bool running_under_valgrind() noexcept;

}  // namespace profagent
