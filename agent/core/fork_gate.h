// The fork gate: keeps a program's fork() from copying a glibc lock that one of the agent's
// own threads holds. Normal context only (never from a signal handler or a malloc hook).
//
// fork() copies only the calling thread. glibc re-makes its malloc and stdio-list locks in
// the child, but not the dynamic loader's (dl_iterate_phdr, dlopen, dlsym) nor those of
// libraries the agent loads (libdw). When the dump thread was inside dl_iterate_phdr at the
// moment a single-threaded program forked, the child inherited the loader lock held by a
// thread that does not exist there, and its first dlopen, dl_iterate_phdr or C++ throw hung
// forever (seen with a pyenv shim's bash). The agent's threads therefore do their work inside
// a ForkGateSection; a fork() waits (in its pthread_atfork prepare handler) until no section
// is open, and new sections wait until the fork is done. A section is never held across a
// wait for the program (a sleep, a socket), so a fork waits at most for one dump.
#pragma once

#include <cstdint>

namespace profagent {

// Registers the fork handlers. Once, from agent_start, before any agent thread starts.
void install_fork_gate();

// Open for the lifetime of the object. Sections nest on one thread (only the outermost one
// counts). A fork that finds a section open waits for it, up to kForkGateWaitNanos: a stuck
// agent thread must not freeze the program's forks forever.
class ForkGateSection {
 public:
  ForkGateSection() noexcept;
  ~ForkGateSection();
  ForkGateSection(const ForkGateSection&) = delete;
  ForkGateSection& operator=(const ForkGateSection&) = delete;

 private:
  bool outermost_;
};

constexpr int64_t kForkGateWaitNanos = 2'000'000'000;

// For tests: forks waited for a section, and forks that gave up waiting.
uint64_t fork_gate_waits() noexcept;
uint64_t fork_gate_timeouts() noexcept;

}  // namespace profagent
