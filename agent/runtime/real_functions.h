// The C library's functions behind a file of hooks (exec_hooks.cc, shell_hooks.cc,
// credential_hooks.cc): a table of pointers, filled by looking each name up past the agent
// (RTLD_NEXT, agent/core/next_symbol.h). get() is HOOK-SAFE (one acquire load); the first
// get() fills the table.
//
// When: a process that has one thread looks them up when it first needs them, or before it
// makes a second thread or forks (resolve_kept_functions), so a `/bin/true` looks up none of
// the ~45 names it never calls (~5 us of every start). Until then the process has one thread:
// the lookup reads the loaded objects' tables without the loader's lock (next_symbol's
// single-threaded case), so it is safe in a vfork child and a signal handler too. A process
// that already has threads when the library loads (a library's constructor started one)
// looks them up at load, from each file's constructor, as before: a first get() with threads
// running would take the loader's lock (dlsym), which a vfork child must not, and a thread
// inside dlopen may hold while it waits for one of ours.
#pragma once

#include <dlfcn.h>

#include <atomic>

#include "agent/core/next_symbol.h"

namespace profagent {

// A file's resolution, run once (idempotent: a second run finds the same functions).
using Resolution = void (*)() noexcept;

// From a file's load constructor: `resolve` runs now if the process already has a second
// thread, else it is kept for resolve_kept_functions (at most 8 kept). Normal context.
void resolve_at_load_or_later(Resolution resolve) noexcept;

// Runs the kept resolutions, each once. Called before a second thread exists (every thread,
// the program's or the agent's, is made through real_pthread_create or real_thrd_create) and
// before a fork (a prepare handler: a shell resolves once, not in each child). Any context
// while the process has one thread.
void resolve_kept_functions() noexcept;

namespace real_functions_detail {
// resolve_at_load_or_later with the process's thread count given (for the unit tests).
void resolve_now_or_keep(Resolution resolve, bool one_thread) noexcept;
}  // namespace real_functions_detail

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
