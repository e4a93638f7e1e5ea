// The program's standard error from any agent thread (see program_stderr.h). Normal context.
#include "agent/core/program_stderr.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "agent/core/write_all.h"

namespace profagent {
namespace {

struct linux_dirent64_view {  // getdents64's record (no glibc declaration)
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[1];
};

constinit thread_local bool t_private_files = false;
constinit thread_local int t_program_pidfd = -1;

// The stderr of the first thread of the process whose fd 2 is not /dev/null (agent threads
// with a table of their own park /dev/null there), reopened (a pipe, a terminal or a file;
// not a socket); -1 if none.
int reopen_a_threads_stderr() noexcept {
  int dir = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -1;
  char buf[4096];
  int found = -1;
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n <= 0) break;
    for (long pos = 0; pos < n && found < 0;) {
      auto* entry = reinterpret_cast<const struct linux_dirent64_view*>(buf + pos);
      pos += entry->d_reclen;
      if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
      char path[64], target[64];
      snprintf(path, sizeof path, "/proc/self/task/%s/fd/2", entry->d_name);
      ssize_t len = readlink(path, target, sizeof target - 1);
      if (len <= 0) continue;
      target[len] = '\0';
      if (strcmp(target, "/dev/null") == 0) continue;
      found = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
    }
    if (found >= 0) break;
  }
  close(dir);
  return found;
}

}  // namespace

void set_thread_has_private_files() noexcept { t_private_files = true; }

void set_thread_program_pidfd(int pidfd) noexcept { t_program_pidfd = pidfd; }

void write_program_stderr(const char* data, size_t size) noexcept {
  int saved = errno;
  if (!t_private_files) {
    (void)write_all(STDERR_FILENO, data, size);
  } else {
    int fd = t_program_pidfd >= 0
                 ? static_cast<int>(syscall(SYS_pidfd_getfd, t_program_pidfd, STDERR_FILENO, 0))
                 : -1;
    // No pidfd, or the process's leader is gone (main called pthread_exit: its table, which
    // the pidfd reaches, went with it): reopen the stderr of a thread that has one.
    if (fd < 0) fd = reopen_a_threads_stderr();
    if (fd >= 0) {
      (void)write_all(fd, data, size);  // a log line has nowhere else to go
      close(fd);
    }
  }
  errno = saved;
}

}  // namespace profagent
