// The fork gate (see fork_gate.h). Normal context: a glibc rwlock preferring writers (so a
// waiting fork is not starved by the agent's next section), a per-thread nesting depth, and a
// fork generation, so that a section a fork child inherited never unlocks the child's fresh
// lock.
#include "agent/core/fork_gate.h"
#include "agent/core/clock.h"
#include "agent/core/code_layout.h"

#include <errno.h>
#include <pthread.h>
#include <sys/single_threaded.h>
#include <time.h>

#include <atomic>

// The read lock and the unlock under glibc's own names, which the agent does not interpose
// (exported only as GLIBC_2.2.5 versions, hence the .symver): the gate is the agent's lock,
// never the program's contention, and the interposed unlock's check for tracked waiters
// faulted in a page of the mutex profile's table in every process (a section opens at
// every start).
extern "C" int profagent_gate_rdlock(pthread_rwlock_t*) noexcept;
extern "C" int profagent_gate_unlock(pthread_rwlock_t*) noexcept;
__asm__(".symver profagent_gate_rdlock, __pthread_rwlock_rdlock@GLIBC_2.2.5");
__asm__(".symver profagent_gate_unlock, __pthread_rwlock_unlock@GLIBC_2.2.5");

namespace profagent {
namespace {

// What a fork writes, together: every fork writes the lock (taken and released in the parent,
// made anew in the child), and whatever else it wrote in another page cost the shell a page
// fault per command on each side of the fork (copy-on-write). One struct with a non-zero
// initializer keeps all of it in one line of .data. The forking thread is named by the
// address of its t_depth (computed, never read: no page of the thread's TLS is written).
struct Gate {
  pthread_rwlock_t lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  // The thread whose fork holds the lock (t_depth's address), and the forks its signal
  // handlers made meanwhile (both changed only by that thread; read by any).
  std::atomic<const void*> holder{nullptr};
  std::atomic<int> nested{0};
  std::atomic<bool> wait_ran_out{false};  // a fork gave up waiting; none waits till it is free
  std::atomic<uint64_t> generation{0};  // bumped in every fork child
  std::atomic<int64_t> began_monotonic{0};  // last_fork_time(), written by the child
};
alignas(64) constinit Gate g_gate;
constinit thread_local int t_depth __attribute__((tls_model("initial-exec"))) = 0;
std::atomic<int64_t> g_wait_nanos{2'000'000'000};
std::atomic<uint64_t> g_waits{0};
std::atomic<uint64_t> g_timeouts{0};

const void* this_thread() { return &t_depth; }

timespec deadline_after(int64_t nanos) {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  int64_t ns = t.tv_nsec + nanos % 1'000'000'000;
  t.tv_sec += static_cast<time_t>(nanos / 1'000'000'000 + ns / 1'000'000'000);
  t.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return t;
}

// Read by the child, with a system call in line (the vDSO's and libc's clock pages are ones
// a shell's child that execs at once touches for nothing else), on the page its gate reset
// writes anyway: a parent that noted it before each fork wrote that page at every fork, a
// copy of it whenever the page was still held elsewhere (its last child not yet freed). The
// monotonic clock only: the wall-clock time of the fork is derived from it when a profile
// asks (last_fork_time), so a child that execs at once makes one clock call, not two.
PROFAGENT_FORK_PATH void note_fork_time_in_child() {
  g_gate.began_monotonic.store(clock_nanos_by_syscall(CLOCK_MONOTONIC),
                               std::memory_order_relaxed);
}

PROFAGENT_FORK_PATH void before_fork() {
  // A fork from inside a section on this thread (a signal handler's fork during a loader
  // call) would wait for itself: it goes ahead, as it would without the agent. So does one
  // from a handler that interrupted this thread's own fork: that fork holds the lock.
  if (t_depth > 0) return;
  if (g_gate.holder.load(std::memory_order_relaxed) == this_thread()) {
    g_gate.nested.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // No other thread (glibc's own test, which its fork uses too: a shell, most of a build's
  // processes): none can hold a section, and a lock taken here would be released after the
  // fork, a write that copied the page the child still shared, a page fault per fork.
  if (__libc_single_threaded) return;
  int rc = pthread_rwlock_trywrlock(&g_gate.lock);
  if (rc == EBUSY && !g_gate.wait_ran_out.load(std::memory_order_relaxed)) {
    g_waits.fetch_add(1, std::memory_order_relaxed);
    timespec deadline = deadline_after(g_wait_nanos.load(std::memory_order_relaxed));
    do rc = pthread_rwlock_clockwrlock(&g_gate.lock, CLOCK_MONOTONIC, &deadline);
    while (rc == EINTR);
    if (rc != 0) {
      g_timeouts.fetch_add(1, std::memory_order_relaxed);
      g_gate.wait_ran_out.store(true, std::memory_order_relaxed);
    }
  }
  if (rc != 0) return;
  if (g_gate.wait_ran_out.load(std::memory_order_relaxed))
    g_gate.wait_ran_out.store(false, std::memory_order_relaxed);  // free again
  g_gate.holder.store(this_thread(), std::memory_order_relaxed);
}

PROFAGENT_FORK_PATH void after_fork_in_parent() {
  if (g_gate.holder.load(std::memory_order_relaxed) != this_thread()) return;
  if (g_gate.nested.load(std::memory_order_relaxed) > 0) {
    g_gate.nested.fetch_sub(1, std::memory_order_relaxed);  // a handler's fork: the
    return;                                                  // interrupted one holds it
  }
  g_gate.holder.store(nullptr, std::memory_order_relaxed);
  profagent_gate_unlock(&g_gate.lock);
}

PROFAGENT_FORK_PATH void after_fork_in_child() {
  // Only this thread exists: whatever the parent's threads held is gone with them. A
  // section this thread was in (a fork from inside one) ends without unlocking: its
  // generation is the parent's. (All of it on the page the fork wrote anyway.)
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  g_gate.lock = fresh;
  g_gate.holder.store(nullptr, std::memory_order_relaxed);
  g_gate.nested.store(0, std::memory_order_relaxed);
  g_gate.generation.fetch_add(1, std::memory_order_relaxed);
  g_gate.wait_ran_out.store(false, std::memory_order_relaxed);
  note_fork_time_in_child();
}

}  // namespace

PROFAGENT_START_PATH
void install_fork_gate() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
}

PROFAGENT_START_PATH ForkGateSection::ForkGateSection() noexcept : outermost_(t_depth++ == 0) {
  if (!outermost_) return;
  profagent_gate_rdlock(&g_gate.lock);
  generation_ = g_gate.generation.load(std::memory_order_relaxed);
}

PROFAGENT_START_PATH ForkGateSection::~ForkGateSection() {
  // Unlocked before the depth drops: a fork from a signal handler in between goes ahead
  // (depth > 0) rather than waiting for this thread's own read lock.
  if (outermost_ && generation_ == g_gate.generation.load(std::memory_order_relaxed))
    profagent_gate_unlock(&g_gate.lock);
  --t_depth;
}

uint64_t fork_generation() noexcept {
  return g_gate.generation.load(std::memory_order_relaxed);
}

PROFAGENT_FORK_PATH int64_t last_fork_monotonic_nanos() noexcept {
  return g_gate.began_monotonic.load(std::memory_order_relaxed);
}

ForkTime last_fork_time() noexcept {
  const int64_t began = last_fork_monotonic_nanos();
  if (began == 0) return {};
  // The wall clock now, less the monotonic time since the fork (both advance alike; a step
  // of the wall clock since the fork moves the fork's wall-clock time with it).
  const int64_t mono = monotonic_nanos();
  return {unix_nanos() - (mono - began), began};
}

int64_t fork_gate_wait_nanos() noexcept { return g_wait_nanos.load(std::memory_order_relaxed); }

void set_fork_gate_wait_nanos(int64_t nanos) noexcept {
  g_wait_nanos.store(nanos, std::memory_order_relaxed);
}

uint64_t fork_gate_waits() noexcept { return g_waits.load(std::memory_order_relaxed); }

uint64_t fork_gate_timeouts() noexcept { return g_timeouts.load(std::memory_order_relaxed); }

}  // namespace profagent
