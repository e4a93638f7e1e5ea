// An agent thread's own file table (see private_files.h). Normal context.
#include "agent/runtime/private_files.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>

#include "agent/core/process_id.h"
#include "agent/core/program_stderr.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

int sys_close_range(unsigned first, unsigned last) noexcept {
  return static_cast<int>(syscall(SYS_close_range, first, last, 0));
}

// Whether the loader is being debugged, read at start (private_files_start).
constinit bool g_loader_debug = false;

// Whether the process can borrow its stderr through a pidfd, probed by the first agent thread
// that asks (a process that never starts one, a shell's `true`, makes neither call: two
// system calls, ~2 us here). Both calls are asked something they refuse after the checks a
// kernel without them (ENOSYS) or a seccomp policy (EPERM, ENOSYS) fails first: pid 0
// (EINVAL, on every kernel: nothing is ever opened, so a probe made while program threads
// run takes no number of theirs) and no pidfd (EBADF). The ptrace check pidfd_getfd makes
// always passes for the caller's own process; what this cannot see is a policy that refuses
// only a real descriptor (a seccomp filter on the arguments, a security module's check on
// the received file): there the thread's log lines take program_stderr's /proc fallback.
// The answer is kept with the pid it was probed in: a fork child probes again (a policy the
// child set after the fork is seen there too).
bool pidfd_works() noexcept {
  static constinit std::atomic<uint64_t> probed{0};  // pid << 1 | works, 0: not yet
  const pid_t pid = own_pid();
  const uint64_t known = probed.load(std::memory_order_acquire);
  if (known != 0 && static_cast<pid_t>(known >> 1) == pid) return (known & 1) != 0;
  const bool open_works = syscall(SYS_pidfd_open, 0, 0) < 0 && errno == EINVAL;
  const bool works =
      open_works && syscall(SYS_pidfd_getfd, -1, STDERR_FILENO, 0) < 0 && errno == EBADF;
  probed.store(static_cast<uint64_t>(pid) << 1 | (works ? 1 : 0), std::memory_order_release);
  return works;  // (two threads probing at once agree)
}

}  // namespace

PROFAGENT_START_PATH
void private_files_start() noexcept { g_loader_debug = getenv("LD_DEBUG") != nullptr; }

bool enter_private_file_table() noexcept {
  int saved = errno;
  // Nothing is opened before the table is the thread's own: a descriptor opened in the
  // shared table, even for a moment, could take a number the program is about to use.
  bool can_close_range = sys_close_range(~0U, ~0U) == 0;  // closes nothing, where it exists
  if (!can_close_range || !pidfd_works() || unshare(CLONE_FILES) != 0) {
    errno = saved;
    return false;
  }
  // The program's descriptors in the copy are dropped (closing them here closes nothing of
  // the program's, and no pipe of its stays open because of us); 0, 1 and 2 are taken (by
  // /dev/null), so no file of the agent's ever gets a standard number and a library writing
  // to fd 2 on this thread writes nowhere.
  sys_close_range(0, ~0U);
  for (int fd = 0; fd <= STDERR_FILENO; ++fd) open("/dev/null", O_RDWR | O_CLOEXEC);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, getpid(), 0));  // (probed above)
  // Where /dev/null could not be opened the pidfd took a standard number: copies of it take
  // the rest, and the one used sits above them.
  while (pidfd >= 0 && pidfd <= STDERR_FILENO) pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 0);
  set_thread_program_pidfd(pidfd);
  set_thread_has_private_files();
  // Someone debugging the loader (LD_DEBUG) still sees what it prints on this thread (the
  // symbolizer's dlopen): fd 2 is then the program's stderr as it was now (kept open while
  // the thread lives, which only this debugging mode accepts).
  if (pidfd >= 0 && g_loader_debug) {
    int program_stderr = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, STDERR_FILENO, 0));
    if (program_stderr >= 0) {
      dup2(program_stderr, STDERR_FILENO);
      close(program_stderr);
    }
  }
  errno = saved;
  return true;
}

}  // namespace profagent
