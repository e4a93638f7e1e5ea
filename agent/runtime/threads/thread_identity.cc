// The calling thread's tid and name cached in initial-exec TLS (see thread_identity.h).
// SIGNAL/HOOK CONTEXT: current_tid and current_thread_name are async-signal-safe (TLS, one
// atomic load, a system call only when the cache is cold); no allocation, no locks.
#include "agent/runtime/threads/thread_identity.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/core/process_id.h"
#include "agent/core/raw_syscall.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

// Bumped by every rename anywhere in the process (pthread_setname_np may rename another
// thread): a cached name is valid while its generation is the current one.
std::atomic<uint32_t> g_name_generation{1};

struct ThreadIdentity {
  pid_t tid;            // 0: not cached (never filled lazily: a vfork child shares our TLS)
  uint32_t name_gen;    // 0: no cached name (or one being written)
  char name[16];
};
constinit thread_local ThreadIdentity t_identity __attribute__((tls_model("initial-exec"))) = {};

PROFAGENT_FORK_PATH void recache_in_fork_child() noexcept {
  t_identity.tid = static_cast<pid_t>(raw_syscall(SYS_gettid));
  t_identity.name_gen = 0;
}

}  // namespace

PROFAGENT_START_PATH
void remember_current_tid() noexcept {
  static std::atomic<bool> fork_handler{false};
  if (!fork_handler.exchange(true)) pthread_atfork(nullptr, nullptr, recache_in_fork_child);
  // During the agent's start in a process that never had a second thread (glibc's flag),
  // the caller is the process's initial thread, whose tid is the pid the start read once
  // (process_id.h): one system call less at every start. A thread made since asks.
  const pid_t start_pid = t_start_pid;
  t_identity.tid = start_pid != 0 && __libc_single_threaded != 0
                       ? start_pid
                       : static_cast<pid_t>(syscall(SYS_gettid));
}

void note_thread_renamed() noexcept {
  g_name_generation.fetch_add(1, std::memory_order_acq_rel);
}

// (With the fork path's code: a fork child's handlers ask for it, and the sample path's is
// another window of the library's code, one more page fault in every child of a shell.)
PROFAGENT_FORK_PATH pid_t current_tid() noexcept {
  pid_t tid = t_identity.tid;
  return tid != 0 ? tid : static_cast<pid_t>(raw_syscall(SYS_gettid));
}

void current_thread_name(char (&name)[16]) noexcept {
  ThreadIdentity& id = t_identity;
  uint32_t gen = g_name_generation.load(std::memory_order_acquire);
  if (id.name_gen == gen) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    memcpy(name, id.name, sizeof name);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (id.name_gen == gen) return;  // not rewritten by a handler nested meanwhile
  }
  memset(name, 0, sizeof name);
  // The system call, not prctl(): the agent interposes prctl (agent/thread_name_hooks.cc).
  if (syscall(SYS_prctl, PR_GET_NAME, name, 0, 0, 0) != 0) name[0] = '\0';
  name[sizeof name - 1] = '\0';
  id.name_gen = 0;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  memcpy(id.name, name, sizeof name);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  id.name_gen = gen;
}

}  // namespace profagent
