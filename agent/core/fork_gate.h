// The fork gate: keeps a program's fork() from copying a dynamic-loader lock that one of the
// agent's own threads holds. Normal context only (never from a signal handler or a malloc
// hook).
//
// fork() copies only the calling thread. glibc re-makes its malloc and stdio-list locks in
// the child, but not the dynamic loader's (dl_iterate_phdr, dlopen, dlsym). When the dump
// thread was inside dl_iterate_phdr at the moment a single-threaded program forked, the
// child inherited the loader lock held by a thread that does not exist there, and its first
// dlopen, dl_iterate_phdr or C++ throw hung forever (seen with a pyenv shim's bash). So the
// agent makes each of its own calls into the loader inside a ForkGateSection: a fork()
// waits (in its pthread_atfork prepare handler) until no section is open, and new sections
// wait until the fork is done. Sections are short (a loader call, with the unwind-table
// build that runs inside dl_iterate_phdr's callback); they are never held across a dump, a
// file write of a profile, a sleep or the network.
#pragma once

#include <cstdint>

namespace profagent {

// Registers the fork handlers. Once, from agent_start, before any agent thread starts.
void install_fork_gate();

// Open for the lifetime of the object. Sections nest on one thread (only the outermost one
// counts). A fork that finds a section open waits for it, up to fork_gate_wait_nanos(); if
// that wait runs out (a section stuck, e.g. on a hung file system), later forks do not wait
// until a fork finds the gate free again: a stuck agent thread never slows every fork.
class ForkGateSection {
 public:
  ForkGateSection() noexcept;
  ~ForkGateSection();
  ForkGateSection(const ForkGateSection&) = delete;
  ForkGateSection& operator=(const ForkGateSection&) = delete;

 private:
  bool outermost_;
  uint64_t generation_ = 0;  // the process's fork generation when the lock was taken
};

// When this process, a fork child, began (CLOCK_REALTIME and CLOCK_MONOTONIC, ns; zeros in a
// process that no fork made): where a fork child's windows start. Its gate's fork handler
// reads the monotonic clock with a system call in line, before the agent's own handler runs;
// the wall-clock time is derived from it here (two vDSO clock reads). The parent writes
// nothing for it (a write before each fork copied the gate's page whenever its last child
// still held it). Any context.
struct ForkTime {
  int64_t unix_nanos = 0;
  int64_t monotonic_nanos = 0;
};
ForkTime last_fork_time() noexcept;
// The monotonic part alone, with no clock read: for the fork child's own handlers.
int64_t last_fork_monotonic_nanos() noexcept;

// A number every fork child's gate handler changes (bumped): state tagged with it tells a
// fork child's own from its parent's without a system call. Any context.
uint64_t fork_generation() noexcept;

// How long a fork waits for an open section (2 s; tests set it shorter).
int64_t fork_gate_wait_nanos() noexcept;
void set_fork_gate_wait_nanos(int64_t nanos) noexcept;

// For tests and the self-accounting: forks that waited for a section, and waits that ran out.
uint64_t fork_gate_waits() noexcept;
uint64_t fork_gate_timeouts() noexcept;

}  // namespace profagent
