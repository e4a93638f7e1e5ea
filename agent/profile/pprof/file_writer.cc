// write_file_atomically() and profile_path(): a profile appears under its final name only
// when complete (temporary file in the same directory, then rename()); any failure removes
// the temporary and reports why. Normal context only.
//
// No fsync(): the goal is that readers never see a partial file, not durability across a
// power loss; an fsync per dump would stall the agent thread on slow disks. close() errors
// are checked (NFS and quota report write-back errors there).
//
// Files are created 0600 (profiles hold command lines and code layout, like core dumps),
// and the directory is checked before every file (unsafe_directory_problem): a symlink that
// another user planted on the path since the start makes the write fail with a reason.
#include "agent/profile/pprof/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/core/write_all.h"
#include "agent/profile/pprof/output_dir.h"

namespace profagent {
namespace {

std::string error_text(int err) {
  char buf[256];
  // GNU strerror_r (g++ defines _GNU_SOURCE): returns the message, thread-safe.
  return strerror_r(err, buf, sizeof buf);
}

std::string failure(const char* what, const std::string& path, int err) {
  return std::string("cannot ") + what + " " + path + ": " + error_text(err);
}

std::string temporary_path_for(const std::string& path) {
  static std::atomic<unsigned long long> counter{0};
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  return dir + "." + base + ".tmp." + std::to_string(getpid()) + "." +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}


}  // namespace

std::string write_file_atomically(const std::string& path, std::string_view bytes) {
  if (path.empty() || path.back() == '/') return failure("write", path, EISDIR);
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos) {
    std::string dir = slash == 0 ? "/" : path.substr(0, slash);
    if (dir[0] == '/') {
      if (std::string problem = unsafe_directory_problem(dir); !problem.empty())
        return "cannot create " + path + ": " + problem;
    }
  }
  const std::string tmp = temporary_path_for(path);
  int fd;
  do {
    fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return failure("create", path, errno);

  if (const int err = write_all(fd, bytes.data(), bytes.size()); err != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return failure("write", path, err);
  }
  // close() is not retried on EINTR: on Linux the descriptor is released either way.
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return failure("write", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return failure("rename to", path, err);
  }
  return {};
}

std::string profile_path(const std::string& dir, const std::string& exe, int pid,
                         unsigned long long seq, const std::string& kind) {
  std::string name = exe + "." + std::to_string(pid) + "." + std::to_string(seq) + "." + kind +
                     ".pb.gz";
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

}  // namespace profagent
