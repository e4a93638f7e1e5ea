// The C library's functions behind a file of hooks (exec_hooks.cc, shell_hooks.cc,
// credential_hooks.cc): a table of pointers, filled by looking each name up past the agent
// (RTLD_NEXT) when the library loads, from that file's constructor at priority 102, after
// the agent's own (priority 101). Never in a hook: a vfork child may call the hooks, and must
// not call dlsym. get() is HOOK-SAFE (one acquire load); a hook that runs before the table is
// filled (from another library's constructor) fills it first, as the constructor would.
#pragma once


#include <atomic>

#include "agent/core/next_symbol.h"

namespace profagent {

template <typename Table>
class RealFunctions {
 public:
  using Fill = void (*)(Table&);
  constexpr explicit RealFunctions(Fill fill) noexcept : fill_(fill) {}

  // Fills the table (the file's constructor; idempotent). In line: it runs where its caller's
  // code lies (the start path: agent/core/code_layout.h).
  __attribute__((always_inline)) void resolve() noexcept {
    fill_(table_);
    resolved_.store(true, std::memory_order_release);
  }
  __attribute__((always_inline)) const Table& get() noexcept {
    if (!resolved_.load(std::memory_order_acquire)) resolve();
    return table_;
  }

 private:
  Table table_{};
  std::atomic<bool> resolved_{false};
  Fill fill_;
};

// The next definition of `name` after the agent's, as a T (nullptr when there is none).
template <typename T>
void next_function(const char* name, T* fn) {
  *fn = reinterpret_cast<T>(next_symbol(name));
}

}  // namespace profagent
