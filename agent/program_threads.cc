// Counting the program's threads and ending the process when the last one ends (see
// program_threads.h). The counting is HOOK CONTEXT (atomics, pthread_setspecific); the
// check runs on the dump thread in normal context.
#include "agent/program_threads.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "agent/dump_thread.h"
#include "agent/core/wakeup.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

std::atomic<int> g_live{0};            // program threads not yet ended
std::atomic<bool> g_last_ended{false}; // the count reached zero
constinit pthread_key_t g_key = 0;
std::atomic<bool> g_key_made{false};

void on_program_thread_end(void*) {
  if (g_live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    g_last_ended.store(true, std::memory_order_release);
    wake_dump_thread();
  }
}

// True while a thread that is not the agent's still runs (a zombie main thread does not).
bool program_thread_alive() {
  for (pid_t tid : list_threads()) {
    if (!is_agent_thread(tid) && thread_alive(tid)) return true;
  }
  return false;
}

// On the dump thread at every wake-up.
void check_last_thread() {
  if (!g_last_ended.load(std::memory_order_acquire)) return;
  // The last counted thread is past its key destructors but may not have finished ending:
  // wait until it has (milliseconds). A thread the agent does not count (one started before
  // the agent, or by a raw clone) may still run: then look again at a later tick, for as
  // long as it lives (one /proc scan every ~100 ms, only in this case).
  for (int round = 0; round < 50; ++round) {
    if (g_live.load(std::memory_order_acquire) > 0) {  // a new thread after all
      g_last_ended.store(false);
      return;
    }
    if (!program_thread_alive()) {
      log_debug("the program's last thread ended; exiting with status 0");
      exit(0);  // atexit handlers and the exit dump run, as when glibc ends the process
    }
    timespec ms{0, 2000000};
    nanosleep(&ms, nullptr);
  }
  request_collector_tick();
}

void after_fork_child() {
  g_live.store(1);  // only the forking thread goes on in the child
  g_last_ended.store(false);
}

}  // namespace

void start_program_thread_tracking() {
  AgentScope scope;
  if (pthread_key_create(&g_key, on_program_thread_end) != 0) return;
  g_key_made.store(true);
  // Only the calling thread is counted among those that exist already: it alone gets the
  // key whose destructor counts it down. Threads started before the agent (by a library's
  // constructor) are not counted; check_last_thread looks for them in /proc instead.
  g_live.store(1);
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
  set_last_thread_check(check_last_thread);
  pthread_atfork(nullptr, nullptr, after_fork_child);
}

void program_thread_creating() noexcept {
  if (g_key_made.load(std::memory_order_acquire)) g_live.fetch_add(1, std::memory_order_acq_rel);
}

void program_thread_create_failed() noexcept {
  if (g_key_made.load(std::memory_order_acquire)) g_live.fetch_sub(1, std::memory_order_acq_rel);
}

void program_thread_started() noexcept {
  if (g_key_made.load(std::memory_order_acquire)) pthread_setspecific(g_key, reinterpret_cast<void*>(1));
}

}  // namespace profagent
