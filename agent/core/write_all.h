// Writes a whole buffer to a descriptor, retrying short writes and EINTR: the one loop every
// file the agent writes goes through (profiles, symbol cache, unwind tables, DWARF copies);
// and a whole small file through a temporary name and a rename (the caches' files).
// Header-only, so the symbolizer backend (its own shared object) uses the same code. Normal
// context.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cstddef>
#include <string>

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

// Writes `size` bytes as the file `path`, whole or not at all: to `temp` (created exclusively,
// 0600, no symlink followed), then renamed over `path`. False on any failure, with no
// temporary left behind. The caller names `temp` (unique to the writer, in the same
// directory, in a form its directory's cleanup recognises).
inline bool write_file_by_rename(const std::string& temp, const std::string& path,
                                 const void* data, size_t size) {
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return false;
  bool ok = write_all(fd, data, size) == 0;
  ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) ::unlink(temp.c_str());
  return ok;
}

}  // namespace profagent
