// HOOK CONTEXT (the program's own calls). Interposes setrlimit, setrlimit64, prlimit and
// prlimit64: a program that lowers its own RLIMIT_AS while it runs (`ulimit -v` in bash or
// dash, Python's resource.setrlimit, a server capping itself) first gets the sampled-object
// region (heap_region.h) cut to what it would have reserved under that limit, then the call
// itself, as a system call. Before, the reservation made for an unlimited start (up to
// 256 GiB of PROT_NONE) counted against the new limit, and every later mapping of the
// program failed: `bash -c 'ulimit -v 2000000; ...'` died of "xrealloc: cannot allocate".
// Nothing is allocated, no lock the host can hold is taken, errno is the call's.
// Only in libprofagent.so (hook_sources), never in unit tests.
// (The build's 64-bit file offsets would rename setrlimit and prlimit to their *64 twins
// here, which this file defines too.)
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/core/fork_child.h"
#include "collectors/heap/heap_recorder.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

// glibc's setrlimit, setrlimit64, prlimit and prlimit64 are all this system call on a 64-bit
// target, where struct rlimit and struct rlimit64 are one layout.
static_assert(sizeof(rlimit) == sizeof(rlimit64) && sizeof(rlim_t) == 8);

int prlimit_call(pid_t pid, int resource, const void* new_limit, void* old_limit) {
  return static_cast<int>(syscall(SYS_prlimit64, pid, resource, new_limit, old_limit));
}

// Limits are per process: pid 0, the process's own pid, or the calling thread's id.
bool names_this_process(pid_t pid) { return pid == 0 || pid == getpid() || pid == gettid(); }

// Before the call: a limit set and refused (EPERM, EINVAL) leaves a smaller region behind,
// which costs only sampled objects that no longer fit (counted as lost in the heap file).
void before_limit_change(pid_t pid, int resource, const rlimit64* limit) {
  if (resource != RLIMIT_AS || limit == nullptr || limit->rlim_cur == RLIM64_INFINITY ||
      !names_this_process(pid))
    return;
  // A vfork child's limit is its own, the region its parent's (their memory is one).
  if (profagent::shares_its_parents_memory()) return;
  const int saved_errno = errno;
  profagent::g_heap_recorder.region().fit_under_address_limit(limit->rlim_cur);
  errno = saved_errno;
}

}  // namespace

PROFAGENT_HOOK int setrlimit(__rlimit_resource_t resource, const rlimit* limit) noexcept {
  before_limit_change(0, resource, reinterpret_cast<const rlimit64*>(limit));
  return prlimit_call(0, resource, limit, nullptr);
}

PROFAGENT_HOOK int setrlimit64(__rlimit_resource_t resource, const rlimit64* limit) noexcept {
  before_limit_change(0, resource, limit);
  return prlimit_call(0, resource, limit, nullptr);
}

PROFAGENT_HOOK int prlimit(pid_t pid, __rlimit_resource resource, const rlimit* new_limit,
                           rlimit* old_limit) noexcept {
  before_limit_change(pid, resource, reinterpret_cast<const rlimit64*>(new_limit));
  return prlimit_call(pid, resource, new_limit, old_limit);
}

PROFAGENT_HOOK int prlimit64(pid_t pid, __rlimit_resource resource, const rlimit64* new_limit,
                             rlimit64* old_limit) noexcept {
  before_limit_change(pid, resource, new_limit);
  return prlimit_call(pid, resource, new_limit, old_limit);
}
