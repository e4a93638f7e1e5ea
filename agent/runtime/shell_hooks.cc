// HOOK CONTEXT (normal program threads; may be cancelled). system(), popen() and pclose()
// for PROFAGENT_CHILDREN=0. glibc spawns their shell through internal calls no interposer
// sees, so with PROFAGENT_CHILDREN=0 they are done here as glibc 2.36 does them, with the
// filtered environment of child_env_buffer.h: posix_spawn of `/bin/sh -c`; for system(),
// SIGINT/SIGQUIT ignored and SIGCHLD blocked while it waits (shared by concurrent callers),
// the child starting with SIGINT/SIGQUIT at default and the caller's mask, cancellation
// killing and reaping the child; for popen(), modes r, w and e, and the streams of earlier
// popen() calls closed in the new child; pclose(), and fclose() as in glibc, reap the
// children of these streams.
// With the default PROFAGENT_CHILDREN=1 each is a flag test and a call to glibc's.
// The locks are spins of our own: the pthread lock functions are interposed by the lock
// profiler. The real functions are looked up when the library loads.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>

#include "agent/core/large_bss.h"
#include "agent/runtime/child_env_buffer.h"
#include "agent/runtime/real_functions.h"
#include "agent/core/code_layout.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

using profagent::child_env_active;
using profagent::ChildEnv;

using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);
using SystemFn = int (*)(const char*);
using PopenFn = FILE* (*)(const char*, const char*);
using PcloseFn = int (*)(FILE*);
using FcloseFn = int (*)(FILE*);
using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SigprocmaskFn = int (*)(int, const sigset_t*, sigset_t*);

struct Functions {
  SpawnFn posix_spawn;
  SystemFn system;
  PopenFn popen;
  PcloseFn pclose;
  FcloseFn fclose;
  SigactionFn sigaction;
  SigprocmaskFn sigprocmask;
};

PROFAGENT_START_PATH void fill(Functions& f) {
  profagent::next_function("posix_spawn", &f.posix_spawn);
  profagent::next_function("system", &f.system);
  profagent::next_function("popen", &f.popen);
  profagent::next_function("pclose", &f.pclose);
  profagent::next_function("fclose", &f.fclose);
  // libc's: the agent's own sigaction hook is skipped.
  profagent::next_function("sigaction", &f.sigaction);
  profagent::next_function("sigprocmask", &f.sigprocmask);
}

constinit profagent::RealFunctions<Functions> g_real{fill};

void reset_locks_in_fork_child();

__attribute__((constructor(102))) PROFAGENT_START_PATH void resolve_at_load() {
  g_real.resolve();
  // A thread of the parent may have held one of the locks at fork(): only this thread
  // exists in the child.
  pthread_atfork(nullptr, nullptr, reset_locks_in_fork_child);
}

// A lock of our own for system()'s shared signal state and the popen table: a spin with
// sched_yield (the pthread lock functions are interposed by the lock profiler).
class SpinLock {
 public:
  void lock() {
    while (flag_.test_and_set(std::memory_order_acquire)) sched_yield();
  }
  void unlock() { flag_.clear(std::memory_order_release); }
  void reset_in_fork_child() {
    if (flag_.test(std::memory_order_relaxed)) flag_.clear(std::memory_order_relaxed);
  }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

struct SpinGuard {
  explicit SpinGuard(SpinLock& l) : lock(l) { lock.lock(); }
  ~SpinGuard() { lock.unlock(); }
  SpinLock& lock;
};

// ---- system() -----------------------------------------------------------------------

constinit SpinLock g_system_lock;
int g_system_callers = 0;           // under g_system_lock
// (Dispositions saved by the first concurrent caller; .lbss: off the page a start writes.)
PROFAGENT_LARGE_BSS struct sigaction g_intr, g_quit;

void restore_system_signals() {
  SpinGuard guard(g_system_lock);
  if (--g_system_callers == 0) {
    g_real.get().sigaction(SIGQUIT, &g_quit, nullptr);
    g_real.get().sigaction(SIGINT, &g_intr, nullptr);
  }
}

struct CancelArgs {
  pid_t pid;
};

void system_cancelled(void* arg) {
  const pid_t pid = static_cast<CancelArgs*>(arg)->pid;
  const int saved = errno;
  kill(pid, SIGKILL);
  errno = saved;
  int state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  pthread_setcancelstate(state, nullptr);
  restore_system_signals();
}

int system_without_agent(const char* line) {
  const Functions& r = g_real.get();
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  sigset_t reset;
  sigemptyset(&reset);
  {
    SpinGuard guard(g_system_lock);
    if (g_system_callers++ == 0) {
      r.sigaction(SIGINT, &ignore, &g_intr);
      r.sigaction(SIGQUIT, &ignore, &g_quit);
    }
    if (g_intr.sa_handler != SIG_IGN) sigaddset(&reset, SIGINT);
    if (g_quit.sa_handler != SIG_IGN) sigaddset(&reset, SIGQUIT);
  }
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGCHLD);
  r.sigprocmask(SIG_BLOCK, &block, &old_mask);

  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setsigmask(&attr, &old_mask);
  posix_spawnattr_setsigdefault(&attr, &reset);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                        const_cast<char*>(line), nullptr};
  pid_t pid = 0;
  int status = -1;
  int rc;
  {
    ChildEnv env(environ);
    rc = r.posix_spawn(&pid, "/bin/sh", nullptr, &attr, argv, env.get());
  }
  posix_spawnattr_destroy(&attr);
  if (rc == 0) {
    CancelArgs args{pid};
    pthread_cleanup_push(system_cancelled, &args);
    pid_t waited;
    do {
      waited = waitpid(pid, &status, 0);
    } while (waited < 0 && errno == EINTR);
    if (waited != pid) status = -1;
    pthread_cleanup_pop(0);
  } else {
    status = W_EXITCODE(127, 0);  // as if the shell could not be run
  }
  restore_system_signals();
  const int saved = errno;
  r.sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  errno = rc != 0 ? rc : saved;
  return status;
}

// ---- popen() / pclose() ---------------------------------------------------------------

struct PopenStream {
  FILE* fp;
  int fd;
  pid_t pid;
};
constexpr int kMaxPopenStreams = 256;
constinit SpinLock g_popen_lock;
PROFAGENT_LARGE_BSS PopenStream g_popen[kMaxPopenStreams];  // under g_popen_lock; fp == nullptr: free
constinit std::atomic<int> g_popen_open{0};  // streams in g_popen: fclose's fast path

int free_popen_slot() {
  for (int i = 0; i < kMaxPopenStreams; ++i)
    if (g_popen[i].fp == nullptr) return i;
  return -1;
}

FILE* popen_without_agent(const char* command, const char* mode) {
  bool do_read = false, do_write = false, do_cloexec = false;
  for (const char* m = mode; *m != '\0'; ++m) {
    switch (*m) {
      case 'r': do_read = true; break;
      case 'w': do_write = true; break;
      case 'e': do_cloexec = true; break;
      default: errno = EINVAL; return nullptr;
    }
  }
  if (do_read == do_write) {
    errno = EINVAL;
    return nullptr;
  }
  SpinGuard guard(g_popen_lock);
  const int slot = free_popen_slot();
  if (slot < 0) return g_real.get().popen(command, mode);  // table full: glibc's (child keeps it)
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return nullptr;
  const int parent_end = do_read ? fds[0] : fds[1];
  int child_end = do_read ? fds[1] : fds[0];
  const int child_std_end = do_read ? 1 : 0;
  if (child_end == child_std_end) {
    // dup2 onto itself would leave it close-on-exec: move it first.
    const int moved = fcntl(child_end, F_DUPFD_CLOEXEC, 0);
    if (moved < 0) {
      const int err = errno;
      close(fds[0]);
      close(fds[1]);
      errno = err;
      return nullptr;
    }
    close(child_end);
    child_end = moved;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int rc = posix_spawn_file_actions_adddup2(&actions, child_end, child_std_end);
  // POSIX: streams of earlier popen() calls are closed in the new child.
  for (int i = 0; rc == 0 && i < kMaxPopenStreams; ++i)
    if (g_popen[i].fp != nullptr && g_popen[i].fd != child_std_end)
      rc = posix_spawn_file_actions_addclose(&actions, g_popen[i].fd);
  char* const argv[] = {const_cast<char*>("sh"), const_cast<char*>("-c"),
                        const_cast<char*>(command), nullptr};
  pid_t pid = 0;
  if (rc == 0) {
    ChildEnv env(environ);
    rc = g_real.get().posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, env.get());
  }
  posix_spawn_file_actions_destroy(&actions);
  close(child_end);
  if (rc != 0) {
    close(parent_end);
    errno = rc;
    return nullptr;
  }
  if (!do_cloexec) fcntl(parent_end, F_SETFD, 0);
  FILE* fp = fdopen(parent_end, do_read ? "r" : "w");
  if (fp == nullptr) {
    const int err = errno;
    close(parent_end);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    errno = err;
    return nullptr;
  }
  g_popen[slot] = PopenStream{fp, parent_end, pid};
  g_popen_open.fetch_add(1, std::memory_order_relaxed);
  return fp;
}

// The child of one of our popen() streams, removed from the table; 0 if `fp` is not one.
// With `fd` >= 0 (fclose), a slot whose descriptor is not fp's any more is stale (the stream
// was closed another way, e.g. freopen, and the FILE reused): dropped, and 0.
pid_t take_popen_child(FILE* fp, int fd = -1) {
  if (fp == nullptr) return 0;
  SpinGuard guard(g_popen_lock);
  for (PopenStream& s : g_popen) {
    if (s.fp != fp) continue;
    const pid_t pid = fd >= 0 && s.fd != fd ? 0 : s.pid;
    s = PopenStream{nullptr, -1, 0};
    g_popen_open.fetch_sub(1, std::memory_order_relaxed);
    return pid;
  }
  return 0;
}

PROFAGENT_FORK_PATH void reset_locks_in_fork_child() {
  g_system_lock.reset_in_fork_child();
  g_popen_lock.reset_in_fork_child();
}

}  // namespace

// ---- system, popen, pclose -----------------------------------------------------------

PROFAGENT_HOOK int system(const char* line) {
  if (!child_env_active()) return g_real.get().system(line);
  if (line == nullptr) return system_without_agent("exit 0") == 0;  // is there a shell?
  return system_without_agent(line);
}

PROFAGENT_HOOK FILE* popen(const char* command, const char* mode) {
  if (!child_env_active()) return g_real.get().popen(command, mode);
  return popen_without_agent(command, mode);
}

namespace {

// Closes one of our popen() streams and reaps its child, as glibc's close of a popen stream
// does: the child's wait status, or -1.
int close_popen_stream(FILE* fp, pid_t pid) {
  g_real.get().fclose(fp);
  int status = 0;
  pid_t waited;
  do {
    waited = waitpid(pid, &status, 0);
  } while (waited < 0 && errno == EINTR);
  return waited < 0 ? -1 : status;
}

}  // namespace

PROFAGENT_HOOK int pclose(FILE* fp) {
  const pid_t pid = take_popen_child(fp);
  if (pid == 0) return g_real.get().pclose(fp);
  return close_popen_stream(fp, pid);
}

// glibc's fclose() of a popen() stream is pclose(): it waits for the child and returns its
// status. So is ours for the streams popen() made here; any other stream, or no stream of ours
// open (one relaxed load), goes straight to glibc's.
PROFAGENT_HOOK int fclose(FILE* fp) {
  if (g_popen_open.load(std::memory_order_relaxed) == 0 || fp == nullptr)
    return g_real.get().fclose(fp);
  const pid_t pid = take_popen_child(fp, fileno(fp));
  if (pid == 0) return g_real.get().fclose(fp);
  return close_popen_stream(fp, pid);
}
