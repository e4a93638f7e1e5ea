// HOOK CONTEXT. Interposes pthread_create so every thread the program creates runs the
// collectors' per-thread start (CPU timer armed on its own CPU clock) and, through a
// pthread key destructor, their per-thread exit (timer deleted: no leak when threads come
// and go), and the new thread inherits the creator's program-visible signal mask
// (signal_mask.h). The trampoline frame never appears in a profile (the unwinder drops agent
// PCs). thrd_create (C11) is only noted as a thread made (thread_registry.h).
#include <dlfcn.h>
#include <pthread.h>
#include <threads.h>

#include <new>

#include "agent/agent.h"
#include "agent/runtime/agent_thread.h"
#include "agent/runtime/hook_guard.h"
#include "agent/lifecycle.h"
#include "agent/program_threads.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/threads/thread_identity.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/thread_stack.h"

namespace {

struct ThreadStart {
  void* (*routine)(void*);
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
  }
  return start.routine(start.arg);
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int pthread_create(
    pthread_t* thread, const pthread_attr_t* attr, void* (*routine)(void*), void* arg) {
  profagent::PthreadCreateFn real = profagent::real_pthread_create();
  if (profagent::in_agent()) return real(thread, attr, routine, arg);  // the agent's own
  profagent::note_program_thread_created();  // the exit dump's threads rule
  if (!profagent::agent_running()) return real(thread, attr, routine, arg);
  ThreadStart* start;
  {
    profagent::AgentScope scope;
    start = new (std::nothrow)
        ThreadStart{routine, arg, profagent::current_mask_inheritance()};
  }
  if (start == nullptr) return real(thread, attr, routine, arg);
  profagent::program_thread_creating();
  int rc = real(thread, attr, thread_trampoline, start);
  if (rc != 0) {
    profagent::program_thread_create_failed();
    profagent::AgentScope scope;
    delete start;
  }
  return rc;
}

// C11 threads: glibc's thrd_create starts its thread through an internal pthread_create that
// no interposer sees. Noted, so an exit with such a thread still running writes the threads
// profile; the thread itself runs without the per-thread start (no CPU timer of its own).
extern "C" __attribute__((visibility("default"))) int thrd_create(thrd_t* thread,
                                                                   thrd_start_t routine,
                                                                   void* arg) {
  using ThrdCreateFn = int (*)(thrd_t*, thrd_start_t, void*);
  static ThrdCreateFn real = reinterpret_cast<ThrdCreateFn>(dlsym(RTLD_NEXT, "thrd_create"));
  if (!profagent::in_agent()) profagent::note_program_thread_created();
  return real != nullptr ? real(thread, routine, arg) : thrd_error;
}
