// HOOK CONTEXT (the program's own calls). Interposes setrlimit, setrlimit64, prlimit and
// prlimit64: each is the system call itself, after which, when the process's RLIMIT_AS was
// set below what it has mapped (`ulimit -v` in bash or dash, Python's resource.setrlimit, a
// server capping itself with an absolute figure), the sampled-object region (heap_region.h)
// is cut to what it would have reserved under that limit. Before, the reservation made for an
// unlimited start (up to 256 GiB of PROT_NONE) counted against the new limit, and every later
// mapping of the program failed: `bash -c 'ulimit -v 2000000; ...'` died of "xrealloc: cannot
// allocate". A limit at or above what is mapped (`current + X`) leaves the room it leaves
// without the agent, and is left alone. Not seen: a limit set from outside (`prlimit --pid`),
// a raw prlimit64 system call; a child that shares its parent's memory (vfork) cuts nothing.
// Nothing is allocated, no lock the host can hold is taken, the caller's struct is read only
// by the kernel, errno is the call's. Only in libprofagent.so (hook_sources), never in unit
// tests.
// (The build's 64-bit file offsets would rename setrlimit and prlimit to their *64 twins
// here, which this file defines too.)
#undef _FILE_OFFSET_BITS
#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/core/fork_child.h"
#include "agent/core/proc_status.h"
#include "collectors/heap/heap_recorder.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

// glibc's setrlimit, setrlimit64, prlimit and prlimit64 are all this system call on a 64-bit
// target, where struct rlimit and struct rlimit64 are one layout.
static_assert(sizeof(rlimit) == sizeof(rlimit64) && sizeof(rlim_t) == 8);

int prlimit_call(pid_t pid, int resource, const void* new_limit, void* old_limit) {
  return static_cast<int>(syscall(SYS_prlimit64, pid, resource, new_limit, old_limit));
}

// After a successful call that may have set this process's RLIMIT_AS (the pid of another
// process leaves it as it was, and then nothing is cut that was not over it already).
void after_limit_change(int rc, int resource) {
  if (rc != 0 || resource != RLIMIT_AS) return;
  // A vfork child's limit is its own, the region its parent's (their memory is one).
  if (profagent::shares_its_parents_memory()) return;
  const int saved_errno = errno;
  rlimit64 now;
  if (prlimit_call(0, RLIMIT_AS, nullptr, &now) == 0 && now.rlim_cur != RLIM64_INFINITY) {
    const uint64_t mapped = profagent::process_mapped_bytes();
    if (mapped != 0)
      profagent::g_heap_recorder.region().fit_under_address_limit(now.rlim_cur, mapped);
  }
  errno = saved_errno;
}

}  // namespace

PROFAGENT_HOOK int setrlimit(__rlimit_resource_t resource, const rlimit* limit) noexcept {
  const int rc = prlimit_call(0, resource, limit, nullptr);
  after_limit_change(rc, resource);
  return rc;
}

PROFAGENT_HOOK int setrlimit64(__rlimit_resource_t resource, const rlimit64* limit) noexcept {
  const int rc = prlimit_call(0, resource, limit, nullptr);
  after_limit_change(rc, resource);
  return rc;
}

PROFAGENT_HOOK int prlimit(pid_t pid, __rlimit_resource resource, const rlimit* new_limit,
                           rlimit* old_limit) noexcept {
  const int rc = prlimit_call(pid, resource, new_limit, old_limit);
  if (new_limit != nullptr) after_limit_change(rc, resource);
  return rc;
}

PROFAGENT_HOOK int prlimit64(pid_t pid, __rlimit_resource resource, const rlimit64* new_limit,
                             rlimit64* old_limit) noexcept {
  const int rc = prlimit_call(pid, resource, new_limit, old_limit);
  if (new_limit != nullptr) after_limit_change(rc, resource);
  return rc;
}
