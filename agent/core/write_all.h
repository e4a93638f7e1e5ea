// Writes a whole buffer to a descriptor, retrying short writes and EINTR: the one loop every
// file the agent writes goes through (profiles, symbol cache, unwind tables, DWARF copies).
// Header-only, so the symbolizer backend (its own shared object) uses the same code. Normal
// context.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <cstddef>

namespace profagent {

// 0, or the errno that stopped the write (EIO when a write makes no progress: a regular file
// never does that, so it is not retried).
inline int write_all(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

}  // namespace profagent
