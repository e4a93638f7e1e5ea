// For the e2e programs that read their own /proc/self/maps without going through the agent's
// hooks (no stdio, no malloc: raw system calls into a static buffer): the text, NUL-ended,
// or NULL if it cannot be read.
#pragma once

#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

static char own_maps_text[1 << 16];

static inline char* read_own_maps(void) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t len = 0;
  for (ssize_t n; len < sizeof own_maps_text - 1 &&
                  (n = syscall(SYS_read, fd, own_maps_text + len,
                               sizeof own_maps_text - 1 - len)) > 0;)
    len += (size_t)n;
  syscall(SYS_close, fd);
  own_maps_text[len] = '\0';
  return own_maps_text;
}
