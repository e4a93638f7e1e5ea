// Atomic profile files: write under a temporary name in the same directory, then rename().
// Normal context only.
#include "agent/pprof/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace profagent {

std::string write_file_atomically(const std::string& path, std::string_view bytes) {
  static std::atomic<unsigned> counter{0};
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmp = dir + "/." + base + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(counter.fetch_add(1));
  int fd = open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) return "cannot write " + path + ": " + strerror(errno);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      close(fd);
      unlink(tmp.c_str());
      return "cannot write " + path + ": " + strerror(err);
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return "cannot write " + path + ": " + strerror(err);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return "cannot write " + path + ": " + strerror(err);
  }
  return "";
}

std::string profile_path(const std::string& dir, const std::string& exe, int pid,
                         unsigned long long seq, const std::string& kind) {
  return dir + "/" + exe + "." + std::to_string(pid) + "." + std::to_string(seq) + "." + kind +
         ".pb.gz";
}

}  // namespace profagent
