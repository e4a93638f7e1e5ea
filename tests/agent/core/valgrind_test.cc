// running_under_valgrind(): false on the real CPU, true for a program valgrind runs (the probe
// program, run both ways).
#include "agent/core/valgrind.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace {

std::string run_probe(const std::string& prefix) {
  std::string command = prefix + VALGRIND_PROBE " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return "popen failed";
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, pipe) != nullptr) out += buf;
  pclose(pipe);
  return out;
}

TEST(Valgrind, TheRealCpuIsNotValgrind) {
  EXPECT_FALSE(profagent::running_under_valgrind());
  EXPECT_EQ(run_probe(""), "valgrind: no\n");
}

TEST(Valgrind, AProgramValgrindRunsKnowsIt) {
  // scripts/install-deps installs valgrind; without it the probe never runs and this fails.
  EXPECT_EQ(run_probe("valgrind --tool=none -q "), "valgrind: yes\n");
}

}  // namespace
