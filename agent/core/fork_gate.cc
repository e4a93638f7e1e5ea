// The fork gate (see fork_gate.h). Normal context: a glibc rwlock preferring writers, so a
// waiting fork is not starved by the agent's next section; the sections' nesting depth is
// per thread.
#include "agent/core/fork_gate.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <atomic>

namespace profagent {
namespace {

pthread_rwlock_t g_gate = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
constinit thread_local int t_depth __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local bool t_fork_holds __attribute__((tls_model("initial-exec"))) = false;
std::atomic<uint64_t> g_waits{0};
std::atomic<uint64_t> g_timeouts{0};

void before_fork() {
  t_fork_holds = false;
  // A fork from inside a section on this thread (a signal handler's fork during an exit
  // dump) would wait for itself: it goes ahead, as it would without the agent.
  if (t_depth > 0) return;
  int rc = pthread_rwlock_trywrlock(&g_gate);
  if (rc == EBUSY) {
    g_waits.fetch_add(1, std::memory_order_relaxed);
    timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += kForkGateWaitNanos / 1'000'000'000;
    deadline.tv_nsec += kForkGateWaitNanos % 1'000'000'000;
    if (deadline.tv_nsec >= 1'000'000'000) {
      deadline.tv_nsec -= 1'000'000'000;
      ++deadline.tv_sec;
    }
    do rc = pthread_rwlock_clockwrlock(&g_gate, CLOCK_MONOTONIC, &deadline);
    while (rc == EINTR);
    if (rc != 0) g_timeouts.fetch_add(1, std::memory_order_relaxed);
  }
  t_fork_holds = rc == 0;
}

void after_fork_in_parent() {
  if (!t_fork_holds) return;
  t_fork_holds = false;
  pthread_rwlock_unlock(&g_gate);
}

void after_fork_in_child() {
  // Only this thread exists: whatever the parent's threads held is gone with them.
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  g_gate = fresh;
  t_fork_holds = false;
}

}  // namespace

void install_fork_gate() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

ForkGateSection::ForkGateSection() noexcept : outermost_(t_depth++ == 0) {
  if (outermost_) pthread_rwlock_rdlock(&g_gate);
}

ForkGateSection::~ForkGateSection() {
  --t_depth;
  if (outermost_) pthread_rwlock_unlock(&g_gate);
}

uint64_t fork_gate_waits() noexcept { return g_waits.load(std::memory_order_relaxed); }

uint64_t fork_gate_timeouts() noexcept { return g_timeouts.load(std::memory_order_relaxed); }

}  // namespace profagent
