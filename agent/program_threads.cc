// Counting the program's threads and ending the process when the last one ends (see
// program_threads.h). The counting is HOOK CONTEXT (atomics, pthread_setspecific); the
// watch that ends the process runs on a thread of its own in normal context.
#include "agent/program_threads.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "agent/dump_thread.h"
#include "agent/runtime/agent_thread.h"
#include "agent/core/wakeup.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

std::atomic<int> g_live{0};            // program threads not yet ended
std::atomic<bool> g_last_ended{false}; // the count reached zero
constinit pthread_key_t g_key = 0;
std::atomic<bool> g_key_made{false};

// True while a thread that is not the agent's still runs (a zombie main thread does not).
// Allocates nothing: it decides when a process squeezed out of memory ends.
bool program_thread_alive() {
  // (/proc unreadable: only the threads the agent counted are known, and they have ended.)
  return other_program_thread(/*except=*/0, /*live_only=*/true);
}

// A new program thread came (or may come) after all: this watch ends. A thread that ended
// between the count check and the flag being cleared found the flag set and started no watch
// of its own: if the count is back to zero, this watch claims the flag again and goes on.
bool watch_goes_on_after_new_thread() {
  g_last_ended.store(false, std::memory_order_release);
  return g_live.load(std::memory_order_acquire) == 0 &&
         !g_last_ended.exchange(true, std::memory_order_acq_rel);
}

void exit_for_the_program() {
  log_debug("the program's last thread ended; exiting with status 0");
  exit(0);  // atexit handlers and the exit dump run, as when glibc ends the process
}

// Ends the process with status 0 once the program's last thread has ended, as glibc does
// when no thread is left. On a thread of its own, started by the last program thread: it
// shares the program's file table (the dump thread has one of its own,
// agent/runtime/private_files.h), so the atexit handlers it runs write to the program's
// descriptors, which it also keeps open once the program's threads are gone.
void* watch_for_the_end(void*) {
  // The last counted thread is past its key destructors but may not have finished ending:
  // wait until it has (milliseconds). A thread the agent does not count (one started before
  // the agent, or by a raw clone) may still run: then look again every 100 ms, for as long
  // as it lives.
  for (int round = 0;; ++round) {
    if (g_live.load(std::memory_order_acquire) > 0) {
      if (!watch_goes_on_after_new_thread()) return nullptr;
      continue;
    }
    if (!program_thread_alive()) exit_for_the_program();
    timespec pause{0, round < 50 ? 2000000 : 100000000};
    nanosleep(&pause, nullptr);
  }
}

// Where no thread could be made for the watch (a thread limit, address space): the dump
// thread ends the process at its wake-ups instead (its atexit handlers then write through
// its own file table: better than a process that never ends).
std::atomic<bool> g_watch_on_dump_thread{false};

void check_last_thread_on_dump_thread() {
  if (!g_watch_on_dump_thread.load(std::memory_order_acquire)) return;
  for (int round = 0; round < 50; ++round) {
    if (g_live.load(std::memory_order_acquire) > 0) {
      g_watch_on_dump_thread.store(false);
      if (!watch_goes_on_after_new_thread()) return;
      g_watch_on_dump_thread.store(true);
      continue;
    }
    if (!program_thread_alive()) exit_for_the_program();
    timespec ms{0, 2000000};
    nanosleep(&ms, nullptr);
  }
  request_collector_tick();  // look again at the next tick
}

void on_program_thread_end(void*) {
  if (g_live.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (g_last_ended.exchange(true, std::memory_order_acq_rel)) return;  // a watch runs
  pthread_t watch;
  if (create_agent_thread(&watch, watch_for_the_end, nullptr, "profagent-exit") == 0) {
    pthread_detach(watch);
    return;
  }
  g_watch_on_dump_thread.store(true, std::memory_order_release);
  wake_dump_thread();
}

PROFAGENT_FORK_PATH void after_fork_child() {
  store_if_changed(g_live, 1);  // only the forking thread goes on in the child
  store_if_changed(g_last_ended, false);
  store_if_changed(g_watch_on_dump_thread, false);
}

}  // namespace

PROFAGENT_START_PATH
void start_program_thread_tracking() {
  AgentScope scope;
  if (pthread_key_create(&g_key, on_program_thread_end) != 0) return;
  g_key_made.store(true);
  // Only the calling thread is counted among those that exist already: it alone gets the
  // key whose destructor counts it down. Threads started before the agent (by a library's
  // constructor) are not counted; watch_for_the_end looks for them in /proc instead.
  g_live.store(1);
  pthread_setspecific(g_key, reinterpret_cast<void*>(1));
  set_last_thread_check(check_last_thread_on_dump_thread);
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
