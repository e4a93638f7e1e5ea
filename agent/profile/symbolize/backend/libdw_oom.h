// libdw ends the whole process when an allocation of its own fails: its __libdw_oom calls
// error(EXIT_FAILURE, ENOMEM, "libdw"), which prints "<program>: libdw: Cannot allocate
// memory" and exits with status 1, in the host, for the agent's symbolization. Part of
// libprofagent-symbolize.so; normal (dump-thread) context only.
//
// redirect_libdw_errors() points libdw's one call of error() (its GOT slot) at a function of
// ours, when libdw was loaded for this backend (a libdw the program loaded itself is left as
// it is). Inside backend_call() that function leaves libdw with siglongjmp: the call fails,
// and the backend is given up for the rest of the process (libdw's state, and whatever the
// backend held, is abandoned, never used again; the agent names frames from the symbol cache
// and module+offset). Outside one (a program that loads this libdw after us) it does what
// glibc's error() does.
#pragma once

#include <setjmp.h>

#include <atomic>

namespace profagent::symbolize {

// Once, at the backend's first use. False if libdw's call could not be redirected (then
// libdw's out-of-memory exit stays possible, as before).
bool redirect_libdw_errors() noexcept;

// True once libdw ran out of memory in this process: every backend call fails from then on.
bool libdw_gave_up() noexcept;

// Where the error() redirect returns to (the innermost backend call of this thread).
struct LibdwEscape {
  sigjmp_buf at;
};
void enter_libdw_escape(LibdwEscape* escape) noexcept;
void leave_libdw_escape() noexcept;
void note_libdw_gave_up() noexcept;

// Runs call() (returning R) unless the backend was given up; `failed` if libdw ran out of
// memory inside it, or if it threw (std::bad_alloc: nothing thrown crosses into the agent,
// whose C++ runtime is its own).
template <typename R, typename Call>
R backend_call(R failed, Call&& call) noexcept {
  if (libdw_gave_up()) return failed;
  LibdwEscape escape;
  if (sigsetjmp(escape.at, 0) != 0) {  // (from libdw's error(): see above)
    note_libdw_gave_up();
    return failed;
  }
  enter_libdw_escape(&escape);
  R result = failed;
  try {
    result = call();
  } catch (...) {
  }
  leave_libdw_escape();
  return result;
}

}  // namespace profagent::symbolize
