// /proc/<pid>/maps reading and parsing into pprof mappings (executable lines only, main
// executable first). Normal (dump-thread) context only.
#include "agent/profile/symbolize/maps.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>

namespace profagent::symbolize {
namespace {

constexpr std::string_view kDeleted = " (deleted)";

// Splits off the next space-separated field of `line` (leading spaces skipped).
std::string_view next_field(std::string_view* line) {
  size_t begin = line->find_first_not_of(' ');
  if (begin == std::string_view::npos) {
    *line = {};
    return {};
  }
  size_t end = line->find(' ', begin);
  if (end == std::string_view::npos) end = line->size();
  std::string_view field = line->substr(begin, end - begin);
  line->remove_prefix(end);
  return field;
}

bool parse_hex(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 16);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_dec(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return ec == std::errc() && ptr == s.data() + s.size();
}

bool parse_line(std::string_view line, MapsEntry* e) {
  std::string_view range = next_field(&line);
  std::string_view perms = next_field(&line);
  std::string_view offset = next_field(&line);
  std::string_view dev = next_field(&line);
  std::string_view inode = next_field(&line);
  size_t dash = range.find('-');
  if (dash == std::string_view::npos || dev.empty()) return false;
  if (!parse_hex(range.substr(0, dash), &e->start) ||
      !parse_hex(range.substr(dash + 1), &e->limit) || !parse_hex(offset, &e->offset) ||
      !parse_dec(inode, &e->inode) || e->limit <= e->start) {
    return false;
  }
  e->perms = std::string(perms);
  // The name is the rest of the line; it may contain spaces.
  size_t name_begin = line.find_first_not_of(' ');
  std::string_view name =
      name_begin == std::string_view::npos ? std::string_view() : line.substr(name_begin);
  e->deleted = name.size() > kDeleted.size() && name.ends_with(kDeleted);
  if (e->deleted) name.remove_suffix(kDeleted.size());
  e->name = std::string(name);
  return true;
}

}  // namespace

bool read_text_file(const std::string& path, std::string* out) {
  out->clear();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16384];
  bool ok = true;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ok;
}

std::string proc_dir(pid_t pid) {
  // thread-self: /proc/self/maps is empty once the main thread has ended (pthread_exit).
  return pid == 0 ? std::string("/proc/thread-self") : "/proc/" + std::to_string(pid);
}

std::string main_executable_path(pid_t pid) {
  char buf[PATH_MAX];
  ssize_t n = readlink((proc_dir(pid) + "/exe").c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<size_t>(n));
  if (path.size() > kDeleted.size() && path.ends_with(kDeleted)) {
    path.resize(path.size() - kDeleted.size());
  }
  return path;
}

std::vector<MapsEntry> parse_maps(std::string_view text) {
  std::vector<MapsEntry> entries;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    MapsEntry e;
    if (parse_line(line, &e)) entries.push_back(std::move(e));
  }
  return entries;
}

std::vector<MappingInfo> executable_mappings(const std::vector<MapsEntry>& entries,
                                             const std::string& exe_path,
                                             std::vector<size_t>* source) {
  std::vector<size_t> main_lines, other_lines;
  for (size_t i = 0; i < entries.size(); ++i) {
    const MapsEntry& e = entries[i];
    if (e.perms.find('x') == std::string::npos) continue;
    if (e.inode == 0 && e.name.empty()) continue;
    bool is_main = !exe_path.empty() && e.name == exe_path;
    (is_main ? main_lines : other_lines).push_back(i);
  }
  main_lines.insert(main_lines.end(), other_lines.begin(), other_lines.end());
  std::vector<MappingInfo> mappings;
  mappings.reserve(main_lines.size());
  for (size_t i : main_lines) {
    const MapsEntry& e = entries[i];
    MappingInfo m;
    m.start = e.start;
    m.limit = e.limit;
    m.offset = e.offset;
    m.filename = e.name;
    mappings.push_back(std::move(m));
  }
  if (source) *source = std::move(main_lines);
  return mappings;
}

std::string mapping_basename(const std::string& filename) {
  if (filename.starts_with('[')) return filename;
  size_t slash = filename.rfind('/');
  if (slash == std::string::npos || slash + 1 == filename.size()) return filename;
  return filename.substr(slash + 1);
}

}  // namespace profagent::symbolize
