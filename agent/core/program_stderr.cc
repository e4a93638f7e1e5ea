// The program's standard error from any agent thread (see program_stderr.h). Normal context.
#include "agent/core/program_stderr.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace profagent {
namespace {

constinit thread_local bool t_private_files = false;
constinit thread_local int t_program_pidfd = -1;

void write_all(int fd, const char* data, size_t size) noexcept {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr closed or full: nothing better to do with a log line
    data += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

void set_thread_has_private_files() noexcept { t_private_files = true; }

void set_thread_program_pidfd(int pidfd) noexcept { t_program_pidfd = pidfd; }

void write_program_stderr(const char* data, size_t size) noexcept {
  int saved = errno;
  if (!t_private_files) {
    write_all(STDERR_FILENO, data, size);
  } else {
    int fd = t_program_pidfd >= 0
                 ? static_cast<int>(syscall(SYS_pidfd_getfd, t_program_pidfd, STDERR_FILENO, 0))
                 : -1;
    if (fd < 0 && errno != EBADF)  // (EBADF: the program has no stderr now)
      fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0) {
      write_all(fd, data, size);
      close(fd);
    }
  }
  errno = saved;
}

}  // namespace profagent
