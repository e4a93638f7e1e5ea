// Reading one field of a /proc status file, and /proc/self/statm (see proc_status.h). Normal
// context; process_mapped_bytes also in hooks.
#include "agent/core/proc_status.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace profagent {

std::optional<uint64_t> proc_status_hex(const char* path, const char* field) noexcept {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[4096];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  const size_t len = strlen(field);
  for (const char* line = buf; line != nullptr && *line != '\0';) {
    if (strncmp(line, field, len) == 0 && line[len] == ':')
      return strtoull(line + len + 1, nullptr, 16);
    line = strchr(line, '\n');
    if (line != nullptr) ++line;
  }
  return std::nullopt;
}

uint64_t process_mapped_bytes() noexcept {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[64];
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  text[n] = '\0';
  return strtoull(text, nullptr, 10) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace profagent
