// End-to-end: the threads profile of a program whose workers park in a condition variable,
// written on the dump signal, read with go tool pprof; and thread snapshots that never
// interrupt a wait: the wait matrix program (one thread in each of poll, nanosleep,
// epoll_wait, select, sem_timedwait, pthread_cond_timedwait, read, accept, sigwaitinfo, and
// one that blocks every signal in read) runs through 100 periodic dumps at 20 Hz; every wait
// lasts until the program wakes it, and the threads profiles show each thread in its wait
// function with state=blocked and the system call it sits in.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
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

// True once the thread `tid` of `pid` sits in system call `nr` (/proc/<pid>/task/<tid>/syscall
// starts with the number of the call it is blocked in; where that file cannot be read, the
// thread's state is sleeping). Waits at most 10 s.
bool wait_until_in_syscall(int pid, int tid, int nr) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
  for (int i = 0; i < 2000; ++i) {
    std::ifstream in(task + "/syscall");
    std::string first;
    if (in >> first) {
      if (first == std::to_string(nr)) return true;
    } else {
      std::ifstream stat(task + "/stat");
      std::string line;
      std::getline(stat, line);
      size_t paren = line.rfind(')');
      if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'S')
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
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
  // main prints "ready" and then enters sleep_in_main: signal only once it sleeps there
  // (clock_nanosleep is system call 230 on x86-64), or a loaded machine may catch it between.
  EXPECT_TRUE(wait_until_in_syscall(pid, pid, 230)) << "main never reached clock_nanosleep";
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

struct Expected {
  const char* function;  // the program's wait function on the stack
  const char* syscall;   // the system call glibc makes for it on x86-64
};

// thread_name → where it waits. The syscall names are those of glibc on x86-64 (nanosleep is
// clock_nanosleep, select is pselect6, semaphores and condition variables are futexes).
const std::map<std::string, Expected> kWaits = {
    {"w-poll", {"wait_in_poll", "poll"}},
    {"w-nanosleep", {"wait_in_nanosleep", "clock_nanosleep"}},
    {"w-epoll_wait", {"wait_in_epoll_wait", "epoll_wait"}},
    {"w-select", {"wait_in_select", "pselect6"}},
    {"w-sem_timedwait", {"wait_in_sem_timedwait", "futex"}},
    {"w-condwait", {"wait_in_cond_timedwait", "futex"}},
    {"w-read", {"wait_in_read", "read"}},
    {"w-accept", {"wait_in_accept", "accept"}},
    {"w-sigwaitinfo", {"wait_in_sigwaitinfo", "rt_sigtimedwait"}},
    {"w-read_nosig", {"wait_in_read_nosig", "read"}},
};

std::string label(const e2e::RawSample& s, const std::string& key) {
  auto it = s.labels.find(key);
  return it == s.labels.end() || it->second.empty() ? "" : it->second[0];
}

TEST(ThreadsE2E, HundredDumpsAtTwentyHertzInterruptNoWaitAndShowEachThreadInItsWait) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_INTERVAL", "0.05"}};
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("wait_matrix")}, o, &out_fd, &err_fd, &in_fd);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(read_line(out_fd), "ready");
  // 100 periodic dumps while every thread waits (5 s at 20 Hz; longer on a loaded machine).
  const size_t before_ready = e2e::profiles(dir, "threads").size();
  size_t dumps = 0;
  for (int i = 0; i < 600 && dumps < 101; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dumps = e2e::profiles(dir, "threads").size() - before_ready;
  }
  ASSERT_EQ(write(in_fd, "wake\n", 5), 5);
  close(in_fd);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd, err_fd);
  EXPECT_GE(dumps, 101u);
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("early_returns=0"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("early:"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");

  // Every 10th profile written while every thread waited (from the second after "ready": one
  // may have been under way as it was printed), and the last of them.
  std::vector<std::string> files = e2e::profiles(dir, "threads");
  ASSERT_GE(files.size(), before_ready + 101);
  std::vector<std::string> checked;
  for (size_t i = before_ready + 1; i <= before_ready + 100; i += 10) checked.push_back(files[i]);
  checked.push_back(files[before_ready + 100]);
  for (const std::string& file : checked) {
    SCOPED_TRACE(file);
    e2e::RawProfile p = e2e::read_raw(file);
    EXPECT_EQ(p.total(0), 11);  // main + 10 waiters; the agent's threads are left out
    EXPECT_EQ(p.cum_containing(0, "[profagent"), 0);  // no thread lost or silent
    std::set<std::string> seen;
    for (const e2e::RawSample& s : p.samples) {
      std::string name = label(s, "thread_name");
      std::vector<std::string> stack = p.stack_functions(s);
      std::string joined;
      for (const std::string& f : stack) joined += f + " ";
      if (name == "wait_matrix") {  // main, in fgets on stdin
        EXPECT_EQ(label(s, "state"), "blocked") << joined;
        EXPECT_EQ(label(s, "syscall"), "read") << joined;
        EXPECT_NE(joined.find("main"), std::string::npos) << joined;
        continue;
      }
      auto it = kWaits.find(name);
      ASSERT_NE(it, kWaits.end()) << name;
      seen.insert(name);
      EXPECT_EQ(label(s, "state"), "blocked") << name << ": " << joined;
      EXPECT_EQ(label(s, "syscall"), it->second.syscall) << name << ": " << joined;
      bool in_wait = false;
      for (const std::string& f : stack) in_wait |= f == it->second.function;
      EXPECT_TRUE(in_wait) << name << ": " << joined;
    }
    EXPECT_EQ(seen.size(), kWaits.size());
  }
}

// Threads that run in short bursts between 1 ms polls are often running when a snapshot is
// taken and back in poll microseconds later: their snapshot request must not land in the poll.
TEST(ThreadsE2E, EventLoopThreadsBetweenShortPollsSeeNoEintrFromHundredDumps) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_INTERVAL", "0.05"}};
  // The program runs until its stdin closes: the run lasts until 100 periodic dumps were
  // written (5 s at 20 Hz; longer on a loaded machine, where dumps overrun and skip intervals).
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("busy_poll"), "stdin"}, o, &out_fd, &err_fd,
                                  &in_fd);
  ASSERT_GT(pid, 0);
  size_t dumps = 0;
  for (int i = 0; i < 1200 && dumps < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    dumps = e2e::profiles(dir, "threads").size();
  }
  close(in_fd);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd, err_fd);
  EXPECT_GE(dumps, 100u);
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("eintr=0 "), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> files = e2e::profiles(dir, "threads");
  // The 100 periodic dumps (the exit dump's has only main, in exit: left out).
  EXPECT_GE(files.size(), 100u);
  // Each event-loop thread is in every snapshot, in event_loop (blocked in poll, or running).
  for (size_t i = 10; i < files.size() && i <= 90; i += 40) {
    SCOPED_TRACE(files[i]);
    e2e::RawProfile p = e2e::read_raw(files[i]);
    int loops = 0;
    for (const e2e::RawSample& s : p.samples) {
      if (label(s, "thread_name") != "event-loop") continue;
      std::vector<std::string> stack = p.stack_functions(s);
      bool in_loop = false, lost = false;
      for (const std::string& f : stack) {
        in_loop |= f == "event_loop";
        lost |= f == "[profagent: lost]";
      }
      EXPECT_TRUE(in_loop || lost);
      ++loops;
    }
    EXPECT_EQ(loops, 2);
  }
}

}  // namespace
