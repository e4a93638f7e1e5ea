// The filtered environment an exec hook hands to a child (PROFAGENT_CHILDREN=0), held in
// a stack buffer or, for a large environment, an mmap'ed one: used by exec_hooks.cc and
// shell_hooks.cc.
//
// HOOK CONTEXT: runs inside execve() and friends, possibly in a vfork child sharing the
// parent's memory and stack: no malloc, no lock, errno preserved.
#pragma once

#include <errno.h>
#include <sys/mman.h>

#include "agent/runtime/child_env.h"

namespace profagent {

// The environment to hand to the child: `envp` itself, or its filtered copy.
class ChildEnv {
 public:
  explicit ChildEnv(char* const* envp) : env_(const_cast<char**>(envp)) {
    if (!child_env_active()) return;
    const int saved = errno;
    const size_t need = child_env_bytes(envp);
    void* buf = stack_;
    if (need > sizeof stack_) {
      buf = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (buf == MAP_FAILED) {  // cannot filter: the child gets the environment as is
        errno = saved;
        return;
      }
      mapped_ = buf;
      mapped_bytes_ = need;
    }
    if (char** filtered = child_env_filter(envp, agent_library(), buf, need)) env_ = filtered;
    errno = saved;
  }
  ~ChildEnv() {
    if (mapped_ == nullptr) return;
    const int saved = errno;
    munmap(mapped_, mapped_bytes_);
    errno = saved;
  }
  ChildEnv(const ChildEnv&) = delete;
  ChildEnv& operator=(const ChildEnv&) = delete;

  char* const* get() const { return env_; }

 private:
  alignas(char*) char stack_[8192];
  char** env_;
  void* mapped_ = nullptr;
  size_t mapped_bytes_ = 0;
};

// Runs call(env) with the environment to hand to the child. The filtering buffer (8 KiB)
// is on the stack only when filtering is on (PROFAGENT_CHILDREN=0): with the default, an exec
// from a small stack (a crash handler on an alternate signal stack, a clone child) costs the
// hook no stack.
template <class Call>
__attribute__((noinline)) auto call_with_filtered_env(char* const* envp, Call& call) {
  ChildEnv env(envp);
  return call(env.get());
}

template <class Call>
inline auto with_child_env(char* const* envp, Call call) {
  if (!child_env_active()) return call(envp);
  return call_with_filtered_env(envp, call);
}

}  // namespace profagent
