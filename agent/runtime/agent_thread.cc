// Starts agent-owned threads with every signal blocked and the in-agent flag set. Normal
// context.
#include "agent/runtime/agent_thread.h"

#include <dlfcn.h>
#include <semaphore.h>
#include <signal.h>

#include <cstring>

#include "agent/runtime/hook_guard.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

struct AgentThreadStart {
  void* (*body)(void*);
  void* arg;
  char name[16];
  sem_t registered;  // posted once the thread is known as an agent thread
};

void* agent_thread_main(void* p) {
  ++t_in_agent;  // for the thread's whole life: every hook passes straight through
  auto* shared = static_cast<AgentThreadStart*>(p);
  void* (*body)(void*) = shared->body;
  void* arg = shared->arg;
  char name[16];
  memcpy(name, shared->name, sizeof name);
  register_agent_thread(current_tid());
  pthread_setname_np(pthread_self(), name);
  sem_post(&shared->registered);  // `shared` is gone after this
  return body(arg);
}

}  // namespace

PthreadCreateFn real_pthread_create() {
  static PthreadCreateFn fn =
      reinterpret_cast<PthreadCreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  return fn != nullptr ? fn : &pthread_create;
}

int create_agent_thread(pthread_t* thread, void* (*body)(void*), void* arg, const char* name) {
  AgentScope scope;
  AgentThreadStart start{body, arg, {}, {}};
  strncpy(start.name, name, sizeof start.name - 1);
  sem_init(&start.registered, 0, 0);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits the full mask
  int rc = real_pthread_create()(thread, nullptr, agent_thread_main, &start);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  // Wait until the thread is registered: a threads snapshot taken right after (the exit dump
  // of a short program) must not signal it and wait for an answer that never comes.
  if (rc == 0) {
    while (sem_wait(&start.registered) != 0) {
    }
  }
  sem_destroy(&start.registered);
  return rc;
}

}  // namespace profagent
