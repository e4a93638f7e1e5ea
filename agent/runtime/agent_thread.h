// Creating the agent's own threads (dump thread, later servers): started with the real
// pthread_create (never our interposer), all signals blocked so the host's signals are never
// delivered to them, marked in-agent so hooks pass through, and registered so profiles leave
// them out. Normal context.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <cstdint>

namespace profagent {

// Returns 0 or an errno value, like pthread_create.
int create_agent_thread(pthread_t* thread, void* (*body)(void*), void* arg, const char* name);

// In a forked child: start records the parent's threads still held are free again (those
// threads do not exist here, so they would never give them back). ASYNC-SIGNAL-SAFE.
void forget_agent_thread_starts_after_fork() noexcept;

// The kernel tid of a thread this process created (0 if it cannot be known), without waiting
// for the thread to run.
pid_t tid_of_thread(pthread_t thread) noexcept;

// Waits until agent thread `tid`, which is ending (its body returned or is returning), has
// left the process: the kernel no longer counts it among the process's threads, which a
// namespace change that wants a single-threaded process checks (a pthread_join returns
// before that). Its tid is then no longer an agent thread's. False if it is still there
// after `timeout_nanos`. Normal context.
bool wait_for_agent_thread_end(pid_t tid, int64_t timeout_nanos) noexcept;

// The real pthread_create (next in the lookup order after libprofagent.so).
using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
PthreadCreateFn real_pthread_create();

}  // namespace profagent
