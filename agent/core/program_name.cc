// program_name(): the name the program was started as, for its profile files
// (program_name.h). Read once at start. Normal context only.
#include "agent/core/program_name.h"
#include "agent/core/code_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

namespace profagent {
namespace {

constexpr size_t kMaxNameBytes = 64;

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '_' || c == '+' || c == '@' || c == '-';
}

// The first NUL-terminated element of /proc/self/cmdline ("" if unreadable).
std::string first_cmdline_element() {
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[PATH_MAX];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;  // stops at the first NUL
}

std::string exe_link_target() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  path[n] = '\0';
  return path;
}

}  // namespace

PROFAGENT_START_PATH std::string file_name_part(std::string_view argv0) {
  while (!argv0.empty() && argv0.back() == '/') argv0.remove_suffix(1);
  if (size_t slash = argv0.rfind('/'); slash != std::string_view::npos)
    argv0.remove_prefix(slash + 1);
  while (!argv0.empty() && (argv0.front() == '-' || argv0.front() == '.'))
    argv0.remove_prefix(1);
  std::string out;
  for (char c : argv0.substr(0, kMaxNameBytes)) out += name_char(c) ? c : '_';
  return out;
}

PROFAGENT_START_PATH
std::string program_name() {
  // argv[0] as glibc kept it (no system call: this runs in every process), then as the
  // kernel has it, then the executable's path; each asked only if the one before is empty.
  using Source = std::string (*)();
  for (Source source : {+[] { return std::string(program_invocation_name); },
                        first_cmdline_element, exe_link_target}) {
    std::string name = file_name_part(source());
    if (!name.empty()) return name;
  }
  return "program";
}

}  // namespace profagent
