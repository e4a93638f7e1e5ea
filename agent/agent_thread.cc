// Starts agent-owned threads with every signal blocked and the in-agent flag set. Normal
// context.
#include "agent/agent_thread.h"

#include <dlfcn.h>
#include <signal.h>

#include <cstring>

#include "agent/hook_guard.h"
#include "agent/threads/thread_registry.h"

namespace profagent {
namespace {

struct AgentThreadStart {
  void* (*body)(void*);
  void* arg;
  char name[16];
};

void* agent_thread_main(void* p) {
  ++t_in_agent;  // for the thread's whole life: every hook passes straight through
  AgentThreadStart start = *static_cast<AgentThreadStart*>(p);
  delete static_cast<AgentThreadStart*>(p);
  register_agent_thread(current_tid());
  pthread_setname_np(pthread_self(), start.name);
  return start.body(start.arg);
}

}  // namespace

PthreadCreateFn real_pthread_create() {
  static PthreadCreateFn fn =
      reinterpret_cast<PthreadCreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  return fn != nullptr ? fn : &pthread_create;
}

int create_agent_thread(pthread_t* thread, void* (*body)(void*), void* arg, const char* name) {
  AgentScope scope;
  auto* start = new AgentThreadStart{body, arg, {}};
  strncpy(start->name, name, sizeof start->name - 1);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);  // the new thread inherits the full mask
  int rc = real_pthread_create()(thread, nullptr, agent_thread_main, start);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) delete start;
  return rc;
}

}  // namespace profagent
