// The calling thread's tid and name cached in initial-exec TLS (see thread_identity.h).
// SIGNAL/HOOK CONTEXT: current_tid and current_thread_name are async-signal-safe (TLS, one
// atomic load, a system call only when the cache is cold); no allocation, no locks.
#include "agent/runtime/threads/thread_identity.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

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
  t_identity.tid = static_cast<pid_t>(syscall(SYS_gettid));
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
