// Tests for write_file_atomically() and profile_path(): content, no temporaries left, clear
// failure reasons for a missing/non-directory parent and a write that fails midway (EFBIG
// under RLIMIT_FSIZE in a forked child), old content kept on failure, concurrent writers.
#include "agent/profile/pprof/file_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace profagent {
namespace {

class FileWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/profagent_fw_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  static std::string read(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
};

std::string pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 + (i >> 9));
  return s;
}

TEST_F(FileWriterTest, WritesContentAndLeavesNoTemporary) {
  const std::string path = dir_ + "/prog.1.1.cpu.pb.gz";
  const std::string data = pattern(300000, 'a');
  EXPECT_EQ(write_file_atomically(path, data), "");
  EXPECT_EQ(read(path), data);
  EXPECT_EQ(entries(), std::vector<std::string>{"prog.1.1.cpu.pb.gz"});
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::owner_write, fs::perms::owner_write);

  // Replacing an existing file, with empty content too.
  EXPECT_EQ(write_file_atomically(path, ""), "");
  EXPECT_EQ(read(path), "");
  EXPECT_EQ(fs::file_size(path), 0u);
  EXPECT_EQ(entries(), std::vector<std::string>{"prog.1.1.cpu.pb.gz"});
}

TEST_F(FileWriterTest, RelativePathWritesInWorkingDirectory) {
  const fs::path old = fs::current_path();
  fs::current_path(dir_);
  const std::string reason = write_file_atomically("rel.pb.gz", "xyz");
  fs::current_path(old);
  EXPECT_EQ(reason, "");
  EXPECT_EQ(read(dir_ + "/rel.pb.gz"), "xyz");
  EXPECT_EQ(entries(), std::vector<std::string>{"rel.pb.gz"});
}

TEST_F(FileWriterTest, ParentIsARegularFile) {
  // chmod 0555 does not stop root, so make the parent a regular file instead.
  const std::string parent = dir_ + "/regular";
  std::ofstream(parent) << "x";
  const std::string path = parent + "/p.pb.gz";
  const std::string reason = write_file_atomically(path, "data");
  EXPECT_NE(reason, "");
  EXPECT_NE(reason.find(path), std::string::npos) << reason;
  EXPECT_NE(reason.find(strerror(ENOTDIR)), std::string::npos) << reason;
  EXPECT_EQ(entries(), std::vector<std::string>{"regular"});
}

TEST_F(FileWriterTest, MissingDirectory) {
  const std::string path = dir_ + "/no/such/dir/p.pb.gz";
  const std::string reason = write_file_atomically(path, "data");
  EXPECT_NE(reason.find(path), std::string::npos) << reason;
  EXPECT_NE(reason.find(strerror(ENOENT)), std::string::npos) << reason;
  EXPECT_TRUE(entries().empty());
}

TEST_F(FileWriterTest, TargetIsADirectory) {
  const std::string path = dir_ + "/sub";
  fs::create_directory(path);
  const std::string reason = write_file_atomically(path, "data");
  EXPECT_NE(reason.find(path), std::string::npos) << reason;
  EXPECT_NE(reason.find(strerror(EISDIR)), std::string::npos) << reason;
  EXPECT_EQ(entries(), std::vector<std::string>{"sub"});
}

// A write that fails after part of the data went out (the full-disk case): the file size
// limit makes write() fail with EFBIG. Done in a child so the limit does not leak.
TEST_F(FileWriterTest, FailedWriteLeavesNoPartialFileAndKeepsOldContent) {
  const std::string path = dir_ + "/big.pb.gz";
  std::ofstream(path) << "old";
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{8192, 8192};
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(2);
    const std::string reason = write_file_atomically(path, pattern(1 << 20, 'q'));
    if (::write(fds[1], reason.data(), reason.size()) != static_cast<ssize_t>(reason.size())) {
      _exit(3);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string reason;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) reason.append(buf, n);
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_NE(reason.find(path), std::string::npos) << reason;
  EXPECT_NE(reason.find(strerror(EFBIG)), std::string::npos) << reason;
  EXPECT_EQ(read(path), "old");
  EXPECT_EQ(entries(), std::vector<std::string>{"big.pb.gz"});
}

TEST_F(FileWriterTest, ConcurrentWritersNeverExposeAPartialFile) {
  const std::string path = dir_ + "/race.pb.gz";
  const std::string a = pattern(200000, 'a');
  const std::string b = pattern(150000, 'b');
  std::vector<std::thread> writers;
  for (const std::string* s : {&a, &b}) {
    writers.emplace_back([&path, s] {
      for (int i = 0; i < 20; ++i) ASSERT_EQ(write_file_atomically(path, *s), "");
    });
  }
  bool seen_partial = false;
  for (int i = 0; i < 200; ++i) {
    if (!fs::exists(path)) continue;
    const std::string got = read(path);
    if (got != a && got != b) seen_partial = true;
  }
  for (auto& t : writers) t.join();
  EXPECT_FALSE(seen_partial);
  const std::string final_content = read(path);
  EXPECT_TRUE(final_content == a || final_content == b);
  EXPECT_EQ(entries(), std::vector<std::string>{"race.pb.gz"});
}

TEST(ProfilePath, Format) {
  EXPECT_EQ(profile_path("/var/prof", "myprog", 4242, 3, "heap"),
            "/var/prof/myprog.4242.3.heap.pb.gz");
  EXPECT_EQ(profile_path("/var/prof/", "a.out", 1, 12345678901ULL, "cpu"),
            "/var/prof/a.out.1.12345678901.cpu.pb.gz");
  EXPECT_EQ(profile_path("", "x", 7, 1, "threads"), "x.7.1.threads.pb.gz");
}

}  // namespace
}  // namespace profagent
