// HOOK CONTEXT. Interposes the exec family (execve, execv, execvp, execvpe, execl, execle,
// execlp, fexecve, execveat), posix_spawn and posix_spawnp for PROFAGENT_CHILDREN=0: each
// hands the real function a filtered copy of its environment (agent/runtime/child_env.h: no
// PROFAGENT_*, no agent in LD_PRELOAD), so an exec'd child does not run the agent, while
// the host's own environment stays exactly as it is. With the default PROFAGENT_CHILDREN=1
// every hook is one load and a call to the real function. Each exec also keeps a SIGPROF the
// program ignores ignored in the new program (the agent's handler would be reset to the
// default). system() and popen() are in shell_hooks.cc.
//
// These run in program threads and in vfork children (which share the parent's memory and
// stack): the filtered copy lives in an 8 KiB stack buffer, or in an mmap'ed one for a
// larger environment (child_env_buffer.h); nothing is allocated with malloc, no lock is
// taken, errno is preserved. The real functions are looked up when the library loads,
// never in a hook.
#include <errno.h>
#include <spawn.h>
#include <stdarg.h>
#include <unistd.h>

#include "agent/core/code_layout.h"
#include "agent/core/real_sigaction.h"
#include "agent/core/termination_wait.h"
#include "agent/runtime/child_env_buffer.h"
#include "agent/runtime/real_functions.h"
#include "agent/runtime/sampling_signal.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

using profagent::with_child_env;

using ExecveFn = int (*)(const char*, char* const[], char* const[]);
using FexecveFn = int (*)(int, char* const[], char* const[]);
using ExecveatFn = int (*)(int, const char*, char* const[], char* const[], int);
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);

struct Functions {
  ExecveFn execve;
  ExecveFn execvpe;
  FexecveFn fexecve;
  ExecveatFn execveat;
  SpawnFn posix_spawn;
  SpawnFn posix_spawnp;
};

PROFAGENT_START_PATH void fill(Functions& f) {
  profagent::next_function("execve", &f.execve);
  profagent::next_function("execvpe", &f.execvpe);
  profagent::next_function("fexecve", &f.fexecve);
  profagent::next_function("execveat", &f.execveat);
  profagent::next_function("posix_spawn", &f.posix_spawn);
  profagent::next_function("posix_spawnp", &f.posix_spawnp);
}

constinit profagent::RealFunctions<Functions> g_real{fill};

// At load, right after the agent's constructor (priority 101): no hook ever calls dlsym,
// which a vfork child must not.
__attribute__((constructor(102))) PROFAGENT_START_PATH void resolve_at_load() { g_real.resolve(); }

// The real exec, with SIGPROF as the program left it: an ignored SIGPROF stays ignored in the
// new program (sampling_signal.h); put back if the exec fails.
template <typename Call>
int exec_as_the_program(Call call) {
  // A termination signal still waiting for a deferred dump thread (core/termination_wait.h):
  // the program was to die of it before this exec; it does now (without the dump: a child
  // between fork and exec has little to show).
  if (int sig = profagent::termination_waiting()) profagent::raise_with_default_action(sig);
  bool ignored = profagent::ignore_sigprof_for_exec();
  int rc = call();
  if (ignored) profagent::restore_sigprof_after_failed_exec();  // (keeps errno)
  return rc;
}

}  // namespace

// ---- the exec family ------------------------------------------------------------------

PROFAGENT_HOOK PROFAGENT_FORK_PATH
int execve(const char* path, char* const argv[], char* const envp[]) {
  return with_child_env(envp, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execve(path, argv, e); });
  });
}

PROFAGENT_HOOK int execv(const char* path, char* const argv[]) {
  return with_child_env(environ, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execve(path, argv, e); });
  });
}

PROFAGENT_HOOK int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return with_child_env(envp, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execvpe(file, argv, e); });
  });
}

PROFAGENT_HOOK int execvp(const char* file, char* const argv[]) {
  return with_child_env(environ, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execvpe(file, argv, e); });
  });
}

PROFAGENT_HOOK int fexecve(int fd, char* const argv[], char* const envp[]) {
  return with_child_env(envp, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().fexecve(fd, argv, e); });
  });
}

PROFAGENT_HOOK int execveat(int dirfd, const char* path, char* const argv[],
                            char* const envp[], int flags) {
  if (g_real.get().execveat == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return with_child_env(envp, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execveat(dirfd, path, argv, e, flags); });
  });
}

// execl, execle, execlp: the arguments gathered into an array on the stack, as glibc does.
#define PROFAGENT_GATHER_ARGS(first, argv, after_null)                         \
  size_t argc = 1;                                                             \
  {                                                                            \
    va_list count;                                                             \
    va_start(count, first);                                                    \
    while (va_arg(count, const char*) != nullptr) ++argc;                      \
    va_end(count);                                                             \
  }                                                                            \
  char* argv[argc + 1];                                                        \
  argv[0] = const_cast<char*>(first);                                          \
  {                                                                            \
    va_list ap;                                                                \
    va_start(ap, first);                                                       \
    for (size_t i = 1; i <= argc; ++i) argv[i] = va_arg(ap, char*);            \
    after_null;                                                                \
    va_end(ap);                                                                \
  }

PROFAGENT_HOOK int execl(const char* path, const char* arg, ...) {
  PROFAGENT_GATHER_ARGS(arg, argv, (void)0)
  return with_child_env(environ, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execve(path, argv, e); });
  });
}

PROFAGENT_HOOK int execle(const char* path, const char* arg, ...) {
  char* const* envp = nullptr;
  PROFAGENT_GATHER_ARGS(arg, argv, envp = va_arg(ap, char* const*))
  return with_child_env(envp, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execve(path, argv, e); });
  });
}

PROFAGENT_HOOK int execlp(const char* file, const char* arg, ...) {
  PROFAGENT_GATHER_ARGS(arg, argv, (void)0)
  return with_child_env(environ, [&](char* const* e) {
    return exec_as_the_program([&] { return g_real.get().execvpe(file, argv, e); });
  });
}

PROFAGENT_HOOK int posix_spawn(pid_t* pid, const char* path,
                               const posix_spawn_file_actions_t* actions,
                               const posix_spawnattr_t* attr, char* const argv[],
                               char* const envp[]) {
  return with_child_env(envp, [&](char* const* e) {
    return g_real.get().posix_spawn(pid, path, actions, attr, argv, e);
  });
}

PROFAGENT_HOOK int posix_spawnp(pid_t* pid, const char* file,
                                const posix_spawn_file_actions_t* actions,
                                const posix_spawnattr_t* attr, char* const argv[],
                                char* const envp[]) {
  return with_child_env(envp, [&](char* const* e) {
    return g_real.get().posix_spawnp(pid, file, actions, attr, argv, e);
  });
}

