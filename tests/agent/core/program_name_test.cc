// Unit tests of the name profile files carry: the basename of argv[0] as started (a
// symlink's own name), made safe for a file name.
#include "agent/core/program_name.h"

#include <gtest/gtest.h>

namespace profagent {
namespace {

TEST(ProgramName, BasenameOfArgv0) {
  EXPECT_EQ(file_name_part("/usr/bin/redis-server"), "redis-server");
  EXPECT_EQ(file_name_part("redis-server"), "redis-server");
  EXPECT_EQ(file_name_part("./build/app"), "app");
  EXPECT_EQ(file_name_part("python3.11"), "python3.11");
  EXPECT_EQ(file_name_part("/opt/x/"), "x");
}

TEST(ProgramName, UnsafeCharactersAndLeadingDashesOrDots) {
  EXPECT_EQ(file_name_part("-bash"), "bash");  // login shell
  EXPECT_EQ(file_name_part("..hidden"), "hidden");
  EXPECT_EQ(file_name_part("nginx: worker process"), "nginx__worker_process");
  EXPECT_EQ(file_name_part("a\nb\x01"), "a_b_");
  EXPECT_EQ(file_name_part(std::string(200, 'x')), std::string(64, 'x'));
  EXPECT_EQ(file_name_part(""), "");
  EXPECT_EQ(file_name_part("/"), "");
  EXPECT_EQ(file_name_part("---"), "");
}

TEST(ProgramName, ThisTestIsNamedAfterItsArgv0) {
  EXPECT_EQ(program_name(), file_name_part(program_invocation_name));
  EXPECT_FALSE(program_name().empty());
}

}  // namespace
}  // namespace profagent
