// Unit tests of the environment handed to exec'd children with PROFAGENT_CHILDREN=0:
// PROFAGENT_* dropped, the agent's LD_PRELOAD entry removed (by base name or by inode),
// every other entry passed on unchanged and in order, a too-small buffer refused.
#include "agent/runtime/child_env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

namespace profagent {
namespace {

AgentLibrary library(const std::string& path) {
  AgentLibrary lib;
  strcpy(lib.path, path.c_str());
  lib.basename = strrchr(lib.path, '/') + 1;
  struct stat st;
  if (stat(lib.path, &st) == 0) {
    lib.dev = st.st_dev;
    lib.ino = st.st_ino;
    lib.have_inode = true;
  }
  return lib;
}

std::vector<std::string> filter(std::vector<std::string> env, const AgentLibrary& lib) {
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char> buf(child_env_bytes(envp.data()));
  char** out = child_env_filter(envp.data(), lib, buf.data(), buf.size());
  EXPECT_NE(out, nullptr);
  std::vector<std::string> result;
  for (char** e = out; e != nullptr && *e != nullptr; ++e) result.push_back(*e);
  return result;
}

TEST(ChildEnv, DropsTheAgentAndKeepsEverythingElseInOrder) {
  AgentLibrary lib = library("/opt/profagent/lib/libprofagent.so");
  EXPECT_EQ(filter({"HOME=/root", "PROFAGENT_DIR=/tmp/p", "LD_PRELOAD=/opt/profagent/lib/libprofagent.so",
                    "PROFAGENT_CHILDREN=0", "PATH=/bin", "PROFAGENTX=1", "X="},
                   lib),
            (std::vector<std::string>{"HOME=/root", "PATH=/bin", "PROFAGENTX=1", "X="}));
}

TEST(ChildEnv, OtherPreloadedLibrariesStay) {
  AgentLibrary lib = library("/opt/p/libprofagent.so");
  EXPECT_EQ(filter({"LD_PRELOAD=libjemalloc.so.2:/opt/p/libprofagent.so /usr/lib/libx.so"}, lib),
            (std::vector<std::string>{"LD_PRELOAD=libjemalloc.so.2:/usr/lib/libx.so"}));
  EXPECT_EQ(filter({"LD_PRELOAD=libprofagent.so"}, lib), std::vector<std::string>{});
  EXPECT_EQ(filter({"LD_PRELOAD=::"}, lib), std::vector<std::string>{});
  EXPECT_EQ(filter({"LD_PRELOAD=/somewhere/else/libprofagent.so:liba.so"}, lib),
            (std::vector<std::string>{"LD_PRELOAD=liba.so"}));
  EXPECT_EQ(filter({"LD_PRELOAD=/x/libprofagent.so.old", "LD_PRELOADX=1"}, lib),
            (std::vector<std::string>{"LD_PRELOAD=/x/libprofagent.so.old", "LD_PRELOADX=1"}));
}

TEST(ChildEnv, SameFileUnderAnotherNameIsTheAgent) {
  char tmpl[] = "/tmp/profagent_env_XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  const std::string real = dir + "/libprofagent.so", link = dir + "/agent-link.so";
  FILE* f = fopen(real.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  AgentLibrary lib = library(real);
  EXPECT_EQ(filter({"LD_PRELOAD=" + link + ":" + dir + "/other.so"}, lib),
            (std::vector<std::string>{"LD_PRELOAD=" + dir + "/other.so"}));
  unlink(link.c_str());
  unlink(real.c_str());
  rmdir(dir.c_str());
}

TEST(ChildEnv, NullEnvironmentAndSmallBuffer) {
  AgentLibrary lib = library("/a/libprofagent.so");
  char buf[64];
  char** out = child_env_filter(nullptr, lib, buf, sizeof buf);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out[0], nullptr);
  std::string a = "A=1", p = "LD_PRELOAD=/a/libprofagent.so:/b/libb.so";
  char* envp[] = {a.data(), p.data(), nullptr};
  EXPECT_EQ(child_env_filter(envp, lib, buf, child_env_bytes(envp) - 1), nullptr);
}

TEST(ChildEnv, InactiveUntilStartedWithChildrenOff) {
  EXPECT_FALSE(child_env_active());
  child_env_start(/*children=*/true);
  EXPECT_FALSE(child_env_active());
}

}  // namespace
}  // namespace profagent
