// Names of the program's threads by tid, so samples get a thread_name label even after the
// thread exited. Normal context only (takes the agent's own mutex, allocates); a thread's
// name is noted when it starts, when it exits and when it renames itself, never from a
// signal handler. The agent-thread set and the "other program threads" flag are atomics,
// usable from any context (hooks, handlers).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace profagent {

// Records the calling thread's current name (prctl PR_GET_NAME) under its tid.
void note_current_thread_name() noexcept;
// Records a name for a tid (e.g. from pthread_setname_np on another thread).
void note_thread_name(pid_t tid, const char* name) noexcept;
// The last known name of `tid`: /proc/self/task/<tid>/comm for a live thread, else the
// noted name, else "".
std::string thread_name(pid_t tid);
// Forgets every thread (fork child).
void reset_thread_registry() noexcept;

// Linux thread id of the caller (async-signal-safe; cached in TLS, thread_identity.cc).
pid_t current_tid() noexcept;
// The caller's thread name, NUL-terminated (async-signal-safe, no allocation: usable from
// hooks; cached in TLS until a rename, thread_identity.cc).
void current_thread_name(char (&name)[16]) noexcept;

// Whether the program may have a thread besides the one that started the agent (in a fork
// child: besides the forking thread). False only while the process was single-threaded when
// the agent started (glibc's __libc_single_threaded, noted by note_threads_at_start) and the
// program has made no thread with pthread_create since (note_program_thread_created, from
// the pthread_create interposer). A thread made by a raw clone(CLONE_THREAD) is not seen.
// Async-signal-safe (atomics only).
bool program_may_have_other_threads() noexcept;
void note_threads_at_start() noexcept;
void note_program_thread_created() noexcept;

// Agent-owned threads (dump thread, HTTP server...) register so profiles can leave them out.
void register_agent_thread(pid_t tid) noexcept;
bool is_agent_thread(pid_t tid) noexcept;
// An agent thread that has ended for good (its tid may be given to a program thread later).
void unregister_agent_thread(pid_t tid) noexcept;

// Reads /proc/self/task/TID/<name> into buf, NUL-terminated (at most size - 1 bytes; EINTR
// retried): 0 with *length set, or the errno of the open or read that failed (ENOENT or ESRCH:
// the thread is gone). Opened O_CLOEXEC and closed before returning. Normal context.
int read_task_file(pid_t tid, const char* name, char* buf, size_t size,
                   size_t* length) noexcept;

// Calls visit(tid, data) for each live thread of the process (/proc/self/task) until it
// returns false; allocates nothing. False if the directory could not be read.
bool for_each_thread(bool (*visit)(pid_t tid, void* data), void* data) noexcept;

// Whether a thread of the program other than `except` exists (agent threads aside; with
// `live_only`, zombies too): one walk of /proc/self/task, allocating nothing. False if the
// directory could not be read.
bool other_program_thread(pid_t except, bool live_only) noexcept;

// Live threads of the process, from /proc/self/task.
std::vector<pid_t> list_threads();

// Whether thread `tid` of this process still runs (or sleeps): false once it is gone or a
// zombie (a joined thread can be listed for a moment after pthread_join returned). One
// /proc/self/task/TID/stat read. Normal context.
bool thread_alive(pid_t tid);

}  // namespace profagent
