// Starts agent-owned threads with every signal blocked and the in-agent flag set. Normal
// context.
#include "agent/runtime/agent_thread.h"

#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/core/contained.h"
#include "agent/core/process_id.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/fork_reset.h"
#include "agent/core/large_bss.h"
#include "agent/core/next_symbol.h"

namespace profagent {
namespace {

// Shared by the creator and the new thread; whichever lets go of it last gives it back (the
// creator does not wait for the thread to run, except when it cannot learn its tid). Taken
// from a fixed set of slots, not the heap: a free() on the new thread would make glibc give
// that thread an arena of its own (a 128 MiB reservation and four system calls), which a
// short process, or a fork child about to exec, pays for a thread that may never allocate.
struct AgentThreadStart {
  void* (*body)(void*);
  void* arg;
  char name[16];
  sem_t registered;  // posted once the thread is known as an agent thread
  std::atomic<int> holders{0};
  std::atomic<bool> in_use{false};
};

constexpr int kStartSlots = 8;  // agent threads starting at once: dump, HTTP, push, wall
PROFAGENT_LARGE_BSS constinit AgentThreadStart g_start_slots[kStartSlots];  // (large_bss.h)

AgentThreadStart* take_start_slot() {
  for (AgentThreadStart& slot : g_start_slots) {
    bool was_in_use = false;
    if (slot.in_use.compare_exchange_strong(was_in_use, true)) {
      slot.holders.store(2);
      return &slot;
    }
  }
  return nullptr;
}

void give_back(AgentThreadStart* start) {
  sem_destroy(&start->registered);
  start->in_use.store(false, std::memory_order_release);
}

void release(AgentThreadStart* start) {
  if (start->holders.fetch_sub(1) == 1) give_back(start);
}

void* agent_thread_main(void* p) {
  ++t_in_agent;  // for the thread's whole life: every hook passes straight through
  auto* shared = static_cast<AgentThreadStart*>(p);
  void* (*body)(void*) = shared->body;
  void* arg = shared->arg;
  register_agent_thread(current_tid());
  pthread_setname_np(pthread_self(), shared->name);
  sem_post(&shared->registered);
  release(shared);
  // What the body's own pieces of work did not contain (contained.h) ends this thread only,
  // never the process.
  void* result = nullptr;
  run_contained("running an agent thread; it has ended", [&] { result = body(arg); });
  return result;
}

}  // namespace

PROFAGENT_FORK_PATH void forget_agent_thread_starts_after_fork() noexcept {
  for (AgentThreadStart& slot : g_start_slots) {
    store_if_changed(slot.holders, 0);
    store_if_changed(slot.in_use, false);
  }
}

PthreadCreateFn real_pthread_create() {
  static PthreadCreateFn fn =
      reinterpret_cast<PthreadCreateFn>(next_symbol("pthread_create"));
  return fn != nullptr ? fn : &pthread_create;
}

pid_t tid_of_thread(pthread_t thread) noexcept {
  // The kernel's per-thread CPU clock id encodes the tid: ((~tid) << 3) | CPUCLOCK_PERTHREAD
  // | CPUCLOCK_SCHED (linux/posix-timers.h), and glibc fills in the tid before
  // pthread_create returns (CLONE_PARENT_SETTID).
  clockid_t clock;
  if (pthread_getcpuclockid(thread, &clock) != 0 || (clock & 7) != 6) return 0;
  pid_t tid = static_cast<pid_t>(~(clock >> 3));
  return tid > 0 ? tid : 0;
}

bool wait_for_agent_thread_end(pid_t tid, int64_t timeout_nanos) noexcept {
  const pid_t pid = own_pid();
  const int64_t deadline = monotonic_nanos() + timeout_nanos;
  // tgkill with signal 0 fails with ESRCH once the thread is unhashed, which is also when it
  // leaves the thread group (release_task).
  while (syscall(SYS_tgkill, pid, tid, 0) == 0) {
    if (monotonic_nanos() >= deadline) return false;
    timespec pause{0, 20 * 1000};
    nanosleep(&pause, nullptr);
  }
  unregister_agent_thread(tid);
  return true;
}

PROFAGENT_START_PATH
int create_agent_thread(pthread_t* thread, void* (*body)(void*), void* arg, const char* name) {
  AgentScope scope;
  AgentThreadStart* start = take_start_slot();
  if (start == nullptr) return EAGAIN;
  start->body = body;
  start->arg = arg;
  memset(start->name, 0, sizeof start->name);
  strncpy(start->name, name, sizeof start->name - 1);
  sem_init(&start->registered, 0, 0);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits the full mask
  int rc = real_pthread_create()(thread, nullptr, agent_thread_main, start);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) {
    give_back(start);
    return rc;
  }
  // The thread is an agent thread before this returns: a threads snapshot taken right after
  // (the exit dump of a short program) must not signal it and wait for an answer that never
  // comes. Registered from here, without waiting for the new thread to be scheduled (a
  // scheduling delay per process start, in every process of a shell script).
  if (pid_t tid = tid_of_thread(*thread)) {
    register_agent_thread(tid);
  } else {
    while (sem_wait(&start->registered) != 0) {
    }
  }
  release(start);
  return 0;
}

}  // namespace profagent
