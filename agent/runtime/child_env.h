// PROFAGENT_CHILDREN=0: the environment handed to an exec'd child, without the agent.
// The host's own environment (environ, getenv, /proc/self/environ) is never touched; the
// exec family (agent/runtime/exec_hooks.cc) passes the child a filtered copy of the envp it was
// given: every PROFAGENT_* entry dropped, and the agent's entry removed from LD_PRELOAD
// (LD_PRELOAD dropped when nothing else is left in it). Every other entry is passed on
// unchanged, in order.
//
// HOOK CONTEXT for child_env_filter() and child_env_active(): they run inside execve() and
// friends, possibly in a vfork child sharing the parent's memory, so they allocate nothing
// (a caller-supplied buffer, on the stack or mmap'ed), take no lock and leave errno alone.
// child_env_start() runs at agent start, in normal context.
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace profagent {

// Who the agent is in LD_PRELOAD: an entry naming a file with this base name, or the same
// file (device and inode) under another path.
struct AgentLibrary {
  char path[4096] = {0};  // our own path (dladdr)
  const char* basename = nullptr;
  dev_t dev = 0;
  ino_t ino = 0;
  bool have_inode = false;
};

// At agent start: with `children` false, exec'd children get the filtered environment.
void child_env_start(bool children);

// True once child_env_start(false) ran: the exec hooks must filter.
bool child_env_active() noexcept;
const AgentLibrary& agent_library() noexcept;

// True if one LD_PRELOAD entry (`len` bytes, not NUL-terminated) names the agent.
bool is_agent_entry(const char* entry, size_t len, const AgentLibrary& lib) noexcept;

// Bytes child_env_filter() needs for `envp`.
size_t child_env_bytes(char* const* envp) noexcept;

// Writes the filtered copy of `envp` into `buf` (`size` bytes, at least child_env_bytes):
// a NULL-terminated array of pointers to the original strings, except a rewritten
// LD_PRELOAD stored in `buf` after the array. Returns the array, or nullptr if `buf` is
// too small. A null `envp` gives an empty environment, as execve does.
char** child_env_filter(char* const* envp, const AgentLibrary& lib, void* buf,
                        size_t size) noexcept;

}  // namespace profagent
