// End-to-end: the threads profile of a program whose workers park in a condition variable,
// written on the dump signal, read with go tool pprof.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

#include "tests/e2e/support/e2e_support.h"

namespace {

std::string read_line(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

TEST(ThreadsE2E, DumpSignalShowsEveryThreadWhereItWaits) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  // CPU profiling off: the threads collector installs the shared SIGPROF dispatcher itself.
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_CPU_HZ", "0"}, {"PROFAGENT_HEAP_RATE", "0"}};
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("park_threads")}, o, &out_fd, &err_fd, &in_fd);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(read_line(out_fd), "ready");
  kill(pid, SIGUSR2);
  bool written = false;
  for (int i = 0; i < 200 && !written; ++i) {
    written = !e2e::profiles(dir, "threads").empty();
    if (!written) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGTERM);
  e2e::RunResult r = e2e::wait_for(pid, 30, out_fd, err_fd);
  ASSERT_TRUE(written);
  EXPECT_EQ(r.term_signal(), SIGTERM);  // the exit status is the program's own
  EXPECT_EQ(r.err, "");

  std::vector<std::string> files = e2e::profiles(dir, "threads");
  ASSERT_GE(files.size(), 1u);
  EXPECT_NE(files[0].find(".1.threads.pb.gz"), std::string::npos) << files[0];
  e2e::RawProfile p = e2e::read_raw(files[0]);
  EXPECT_EQ(p.period_type, "threads count");
  EXPECT_EQ(p.period, 1);
  ASSERT_EQ(p.sample_types.size(), 1u);
  EXPECT_EQ(p.sample_types[0].substr(0, 13), "threads/count");
  EXPECT_TRUE(p.has_time);

  EXPECT_EQ(p.total(0), 5);  // main + 4 workers; the agent's dump thread is left out
  EXPECT_EQ(p.cum_containing(0, "park_in_condvar"), 4);
  EXPECT_EQ(p.cum_containing(0, "sleep_in_main"), 1);
  EXPECT_EQ(p.cum_containing(0, "[profagent"), 0);  // every thread answered
  std::set<std::string> tids;
  for (const auto& s : p.samples) {
    EXPECT_EQ(s.values[0], 1);
    ASSERT_EQ(s.labels.count("tid"), 1u);
    tids.insert(s.labels.at("tid")[0]);
    EXPECT_EQ(s.labels.count("thread_name"), 1u);
    for (const std::string& f : p.stack_functions(s)) EXPECT_EQ(f.find("profagent"), std::string::npos) << f;
  }
  EXPECT_EQ(tids.size(), 5u);
}

}  // namespace
