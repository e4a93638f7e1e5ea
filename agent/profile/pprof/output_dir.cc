// prepare_output_directory() and unsafe_directory_problem() (output_dir.h): a walk over the
// path's components with lstat, resolving symlinks by hand so that the owner of every link
// on the way is checked. Normal context only.
#include "agent/profile/pprof/output_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>

#include "agent/core/proc_status.h"

namespace profagent {
namespace {

constexpr int kMaxSymlinks = 40;  // as the kernel's ELOOP limit

std::string error_text(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof buf);
}

std::deque<std::string> components(const std::string& path) {
  std::deque<std::string> out;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string parent_of(const std::string& dir) {
  size_t slash = dir.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
}

// mkdir; with `exact`, the mode is set as given (chmod: the umask does not apply).
int make_directory(const std::string& path, mode_t mode, bool exact) {
  if (mkdir(path.c_str(), exact ? 0700 : mode) != 0) return errno;
  if (exact && chmod(path.c_str(), mode) != 0) return errno;
  return 0;
}

// Walks `dir`; with `create`, makes missing directories: when `shared`, the last one 1777
// and its parents 0755 exactly (a worker that drops to another user can reach it), else
// 0755 less the umask.
std::string walk(const std::string& dir, bool create, bool shared) {
  if (dir.empty() || dir[0] != '/') return dir + " is not an absolute path";
  const uid_t me = geteuid();
  std::deque<std::string> todo = components(dir);
  std::string resolved = "/";
  int links = 0;
  while (!todo.empty()) {
    std::string name = todo.front();
    todo.pop_front();
    if (name == ".") continue;
    if (name == "..") {
      resolved = parent_of(resolved);
      continue;
    }
    std::string next = join(resolved, name);
    struct stat st;
    if (lstat(next.c_str(), &st) != 0) {
      int err = errno;
      if (err != ENOENT || !create) return "cannot use " + next + ": " + error_text(err);
      const bool leaf = todo.empty();
      err = make_directory(next, leaf && shared ? 01777 : 0755, shared);
      if (err == EEXIST) {  // made by another process meanwhile: look again
        todo.push_front(name);
        continue;
      }
      if (err != 0) return "cannot create " + next + ": " + error_text(err);
      resolved = next;
      continue;
    }
    if (S_ISLNK(st.st_mode)) {
      if (st.st_uid != me && st.st_uid != 0)
        return next + " is a symlink owned by another user (uid " + std::to_string(st.st_uid) +
               "); refusing to follow it";
      if (++links > kMaxSymlinks) return "cannot use " + dir + ": " + error_text(ELOOP);
      char target[PATH_MAX];
      ssize_t n = readlink(next.c_str(), target, sizeof target - 1);
      if (n <= 0) return "cannot read the symlink " + next + ": " + error_text(errno);
      target[n] = '\0';
      std::deque<std::string> parts = components(target);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (target[0] == '/') resolved = "/";
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      std::string what = next + ": " + error_text(ENOTDIR);
      return create ? "cannot create " + dir + ": " + what : "cannot use " + what;
    }
    resolved = next;
  }
  return "";
}

}  // namespace

bool can_change_user() {
  if (geteuid() == 0) return true;
  std::optional<uint64_t> caps = proc_status_hex("/proc/self/status", "CapEff");
  return caps && ((*caps >> 7) & 1);  // CAP_SETUID
}

std::string unsafe_directory_problem(const std::string& dir) {
  return walk(dir, /*create=*/false, /*shared=*/false);
}

OutputDirectory prepare_output_directory(const std::string& dir) {
  OutputDirectory out;
  out.problem = walk(dir, /*create=*/true, /*shared=*/can_change_user());
  if (!out.problem.empty()) return out;
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    out.problem = "cannot use " + dir + ": " + error_text(errno);
    return out;
  }
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    out.problem = "cannot write to " + dir + ": " + error_text(errno);
    return out;
  }
  if ((st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
    out.warning = dir + " is writable by every user and has no sticky bit: any user can "
                  "delete or replace the profiles in it (chmod +t " + dir + ")";
  return out;
}

}  // namespace profagent
