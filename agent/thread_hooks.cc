// HOOK CONTEXT. Interposes pthread_create so every thread the program creates runs the
// collectors' per-thread start (CPU timer armed on its own CPU clock) and, through a
// pthread key destructor, their per-thread exit (timer deleted: no leak when threads come
// and go), and the new thread inherits the creator's program-visible signal mask
// (signal_mask.h). The trampoline frame never appears in a profile (the unwinder drops agent
// PCs). thrd_create (C11 threads) is done the same way.
#include <errno.h>
#include <pthread.h>
#include <threads.h>

#include <atomic>
#include <cstdint>
#include <new>

#include "agent/agent.h"
#include "agent/core/code_layout.h"
#include "agent/dump_thread.h"
#include "agent/runtime/agent_thread.h"
#include "agent/runtime/hook_guard.h"
#include "agent/lifecycle.h"
#include "agent/program_threads.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/threads/thread_identity.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/thread_stack.h"
#include "agent/core/next_symbol.h"

namespace {

struct ThreadStart {
  void* (*routine)(void*);
  int (*c11_routine)(void*);  // a thrd_create thread's instead (routine is then null)
  void* arg;
  profagent::MaskInheritance mask;  // the creator's program-visible SIGPROF mask
};

void* thread_trampoline(void* p) {
  ThreadStart start = *static_cast<ThreadStart*>(p);
  {
    profagent::AgentScope scope;
    profagent::remember_current_tid();
    delete static_cast<ThreadStart*>(p);
    profagent::adopt_mask_inheritance(start.mask);
    profagent::program_thread_started();
    profagent::note_current_thread_stack();
    profagent::agent_thread_started();
    profagent::stop_timer_while_held();  // a hold inherited from the creator (signal_mask.h)
  }
  // A C11 thread's int result travels as a pointer-sized value, as glibc's start_thread does
  // for it (thrd_join reads it back as an int).
  if (start.c11_routine != nullptr)
    return reinterpret_cast<void*>(static_cast<uintptr_t>(start.c11_routine(start.arg)));
  return start.routine(start.arg);
}

// Starts a program thread through the trampoline (the collectors' per-thread start, the
// creator's mask); `start` was made by the caller. Returns pthread_create's result.
int create_program_thread(pthread_t* thread, const pthread_attr_t* attr, ThreadStart* start) {
  // A deferred dump thread starts first: from here on the process has threads
  // to walk and signal, and a signal handler could no longer start it safely.
  if (profagent::dump_thread_deferred()) {
    profagent::AgentScope scope;
    profagent::start_deferred_dump_thread();
  }
  profagent::PthreadCreateFn real = profagent::real_pthread_create();
  profagent::program_thread_creating();
  int rc = real(thread, attr, thread_trampoline, start);
  if (rc != 0) {
    profagent::program_thread_create_failed();
    profagent::AgentScope scope;
    delete start;
  }
  return rc;
}

// glibc's thrd_create, looked up when the library loads (a lookup at the first call would
// take the loader's lock inside a C++ init guard: a dlopen'ed constructor calling
// thrd_create meanwhile could wait on the guard while holding the loader's lock).
using ThrdCreateFn = int (*)(thrd_t*, thrd_start_t, void*);
constinit std::atomic<ThrdCreateFn> g_real_thrd_create{nullptr};

PROFAGENT_START_PATH ThrdCreateFn lookup_thrd_create() {
  auto fn = reinterpret_cast<ThrdCreateFn>(profagent::next_symbol("thrd_create"));
  g_real_thrd_create.store(fn, std::memory_order_release);
  return fn;
}

__attribute__((constructor(102))) PROFAGENT_START_PATH void resolve_thrd_create_at_load() {
  lookup_thrd_create();
}

ThrdCreateFn real_thrd_create() {
  ThrdCreateFn fn = g_real_thrd_create.load(std::memory_order_acquire);
  return fn != nullptr ? fn : lookup_thrd_create();  // only before this library's constructors
}

ThreadStart* new_thread_start(void* (*routine)(void*), int (*c11_routine)(void*), void* arg) {
  profagent::AgentScope scope;
  return new (std::nothrow)
      ThreadStart{routine, c11_routine, arg, profagent::current_mask_inheritance()};
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*), void* arg) {
  profagent::PthreadCreateFn real = profagent::real_pthread_create();
  if (profagent::in_agent()) return real(thread, attr, routine, arg);  // the agent's own
  profagent::note_program_thread_created();  // the exit dump's threads rule
  if (!profagent::agent_running()) return real(thread, attr, routine, arg);
  ThreadStart* start = new_thread_start(routine, nullptr, arg);
  if (start == nullptr) return real(thread, attr, routine, arg);
  return create_program_thread(thread, attr, start);
}

// C11 threads: glibc's thrd_create starts its thread through an internal pthread_create that
// no interposer sees, so it is done here as glibc does it (default attributes, the int
// result carried as a pointer, errors mapped as thrd_err_map does) through the same
// trampoline: the thread gets its CPU timer and is counted like any other.
extern "C" __attribute__((visibility("default"))) int thrd_create(thrd_t* thread,
                                                                   thrd_start_t routine,
                                                                   void* arg) {
  ThrdCreateFn real = real_thrd_create();
  if (profagent::in_agent() || !profagent::agent_running()) {
    if (!profagent::in_agent()) profagent::note_program_thread_created();
    return real != nullptr ? real(thread, routine, arg) : thrd_error;
  }
  profagent::note_program_thread_created();
  ThreadStart* start = new_thread_start(nullptr, routine, arg);
  if (start == nullptr) return real != nullptr ? real(thread, routine, arg) : thrd_error;
  static_assert(sizeof(thrd_t) == sizeof(pthread_t));
  switch (create_program_thread(reinterpret_cast<pthread_t*>(thread), nullptr, start)) {
    case 0: return thrd_success;
    case ENOMEM: return thrd_nomem;
    case ETIMEDOUT: return thrd_timedout;
    case EBUSY: return thrd_busy;
    default: return thrd_error;
  }
}
