// Running a piece of the agent's work so that nothing it throws reaches the host. Normal
// context only (never a signal handler or an allocation hook: those allocate nothing and
// throw nothing).
//
// The agent's normal-context work (a dump, a tick, its start, the unwind tables) allocates
// with the C++ library, and an allocation fails with std::bad_alloc when the process runs
// out of address space or memory (RLIMIT_AS, a cgroup limit, overcommit off), a condition a
// C program that checks malloc's result survives. An exception leaving an agent thread's
// body, an atexit handler or a noexcept function ends the process in std::terminate; so each
// entry point of such work runs it here: what throws ends that work only (a dump is lost,
// the tables are built again at the next tick), with one warning per place, and the host
// runs on.
//
// Nothing thrown may unwind through C frames either: glibc's (dl_iterate_phdr's cleanup)
// are unwound by a personality routine that first loads libgcc_s, which fails in the very
// condition that threw, and mixes that unwinder with ours (linked in statically): both end
// in abort. Callbacks from C go through for_each_loaded_object below.
//
// Cancellation is off meanwhile, so a cancellation point inside (a dump's write, open or
// fsync) never unwinds a program thread that ends through the agent's exit dump; the forced
// unwind it would start is also the one exception that must not be caught.
#pragma once

#include <link.h>
#include <pthread.h>

#include <exception>

namespace profagent {

// The warning for work that threw, naming `what` and the exception: once per `what`.
void report_contained_failure(const char* what) noexcept;

// Runs work(); returns false if it threw (then reported, the exception dropped). `what` says
// what was lost, e.g. "writing the profiles; this dump is lost".
template <typename Work>
bool run_contained(const char* what, Work&& work) noexcept {
  int cancel_state = PTHREAD_CANCEL_ENABLE;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
  bool ok = true;
  try {
    work();
  } catch (...) {
    report_contained_failure(what);
    ok = false;
  }
  pthread_setcancelstate(cancel_state, nullptr);
  return ok;
}

// dl_iterate_phdr with a C++ callback, int fn(dl_phdr_info*, size_t) (non-zero stops): what
// the callback throws stops the iteration and is thrown again here, once the loader's frames
// are gone (holding the exception needs no allocation).
template <typename Fn>
void for_each_loaded_object(Fn&& fn) {
  struct Call {
    Fn* fn;
    std::exception_ptr thrown;
  };
  Call call{&fn, nullptr};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t size, void* data) -> int {
        auto* c = static_cast<Call*>(data);
        try {
          return (*c->fn)(info, size);
        } catch (...) {
          c->thrown = std::current_exception();
          return 1;
        }
      },
      &call);
  if (call.thrown) std::rethrow_exception(call.thrown);
}

}  // namespace profagent
