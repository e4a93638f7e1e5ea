// Unit tests of the output directory: created 1777 by a process that can change user,
// an existing directory used as it is, a world-writable one without the sticky bit warned
// about, symlinks on the path followed only when owned by us or root (checked again before
// every file), and profile files created 0600.
#include "agent/profile/pprof/output_dir.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/profile/pprof/file_writer.h"

namespace fs = std::filesystem;

namespace profagent {
namespace {

constexpr uid_t kNobody = 65534;

class OutputDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/profagent_od_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  static mode_t mode_of(const std::string& path) {
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  std::string dir_;
};

TEST_F(OutputDirTest, CreatedLikeTmpByAProcessThatCanChangeUser) {
  if (!can_change_user()) GTEST_SKIP() << "needs root or CAP_SETUID";
  const std::string out = dir_ + "/a/b";
  OutputDirectory d = prepare_output_directory(out);
  EXPECT_EQ(d.problem, "");
  EXPECT_EQ(d.warning, "");
  EXPECT_EQ(mode_of(out), 01777u);
  EXPECT_EQ(mode_of(dir_ + "/a"), 0755u);  // a worker that dropped root can reach it
}

TEST_F(OutputDirTest, ExistingDirectoryIsUsedAsIt) {
  const std::string out = dir_ + "/existing";
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(chmod(out.c_str(), 0750), 0);
  OutputDirectory d = prepare_output_directory(out);
  EXPECT_EQ(d.problem, "");
  EXPECT_EQ(d.warning, "");
  EXPECT_EQ(mode_of(out), 0750u);
}

TEST_F(OutputDirTest, WorldWritableWithoutStickyBitIsWarnedAbout) {
  const std::string out = dir_ + "/open";
  ASSERT_EQ(mkdir(out.c_str(), 0700), 0);
  ASSERT_EQ(chmod(out.c_str(), 0777), 0);
  OutputDirectory d = prepare_output_directory(out);
  EXPECT_EQ(d.problem, "");
  EXPECT_NE(d.warning.find(out), std::string::npos) << d.warning;
  EXPECT_NE(d.warning.find("sticky"), std::string::npos) << d.warning;
  ASSERT_EQ(chmod(out.c_str(), 01777), 0);
  EXPECT_EQ(prepare_output_directory(out).warning, "");
}

TEST_F(OutputDirTest, SymlinkOwnedByAnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to lchown a symlink to another user";
  const std::string target = dir_ + "/target", link = dir_ + "/planted";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  ASSERT_EQ(lchown(link.c_str(), kNobody, kNobody), 0);
  for (const std::string& out : {link, link + "/sub", dir_ + "/./planted"}) {
    std::string problem = prepare_output_directory(out).problem;
    EXPECT_NE(problem.find(link), std::string::npos) << problem;
    EXPECT_NE(problem.find("another user"), std::string::npos) << problem;
  }
  EXPECT_FALSE(fs::exists(target + "/sub"));  // nothing made through the link
  // Before every file too: a link planted after the start stops the writes.
  std::string reason = write_file_atomically(link + "/app.1.1.cpu.pb.gz", "data");
  EXPECT_NE(reason.find("another user"), std::string::npos) << reason;
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(OutputDirTest, SymlinkBehindASymlinkIsCheckedToo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to lchown a symlink to another user";
  const std::string target = dir_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(symlink("target", (dir_ + "/inner").c_str()), 0);  // relative
  ASSERT_EQ(lchown((dir_ + "/inner").c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(symlink((dir_ + "/inner").c_str(), (dir_ + "/outer").c_str()), 0);  // ours
  std::string problem = unsafe_directory_problem(dir_ + "/outer");
  EXPECT_NE(problem.find(dir_ + "/inner"), std::string::npos) << problem;
}

TEST_F(OutputDirTest, OwnAndRootSymlinksAreFollowed) {
  const std::string target = dir_ + "/target";
  ASSERT_EQ(mkdir(target.c_str(), 0755), 0);
  ASSERT_EQ(symlink("./target/", (dir_ + "/mine").c_str()), 0);
  ASSERT_EQ(symlink((dir_ + "/mine/../target").c_str(), (dir_ + "/chain").c_str()), 0);
  EXPECT_EQ(unsafe_directory_problem(dir_ + "/mine"), "");
  EXPECT_EQ(unsafe_directory_problem(dir_ + "/chain"), "");
  OutputDirectory d = prepare_output_directory(dir_ + "/chain/new");
  EXPECT_EQ(d.problem, "");
  EXPECT_TRUE(fs::is_directory(target + "/new"));
  EXPECT_EQ(write_file_atomically(dir_ + "/chain/new/f.pb.gz", "x"), "");
  EXPECT_TRUE(fs::exists(target + "/new/f.pb.gz"));
}

TEST_F(OutputDirTest, LoopAndNonDirectoryAreReported) {
  ASSERT_EQ(symlink((dir_ + "/loop").c_str(), (dir_ + "/loop").c_str()), 0);
  EXPECT_NE(unsafe_directory_problem(dir_ + "/loop"), "");
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_NE(prepare_output_directory(dir_ + "/file/sub").problem.find("Not a directory"),
            std::string::npos);
}

TEST_F(OutputDirTest, ProfileFilesAre0600) {
  const mode_t old = umask(0);  // even with a permissive umask
  std::string reason = write_file_atomically(dir_ + "/app.1.1.cpu.pb.gz", "data");
  umask(old);
  EXPECT_EQ(reason, "");
  EXPECT_EQ(mode_of(dir_ + "/app.1.1.cpu.pb.gz"), 0600u);
}

}  // namespace
}  // namespace profagent
