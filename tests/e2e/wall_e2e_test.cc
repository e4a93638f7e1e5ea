// End-to-end: the wall-clock profile (PROFAGENT_WALL_HZ): every thread, running or blocked,
// weighted by wall time, with state and syscall labels, and no signal to a blocked thread;
// read with go tool pprof -raw (and -tagfocus on its labels).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/ingest_receiver.h"

namespace {

std::string label(const e2e::RawSample& s, const std::string& key) {
  auto it = s.labels.find(key);
  return it == s.labels.end() || it->second.empty() ? "" : it->second[0];
}

// A frame of `name`: "name", or C++'s "ns::name(args)", "name<T>", "(anonymous namespace)::name()".
bool is_function(const std::string& frame, const std::string& name) {
  size_t at = frame.find(name);
  while (at != std::string::npos) {
    bool starts = at == 0 || frame.compare(at - 2 < at ? at - 2 : 0, 2, "::") == 0;
    size_t end = at + name.size();
    bool ends = end == frame.size() || frame[end] == '(' || frame[end] == '<' || frame.compare(end, 7, " (inline") == 0;
    if (starts && ends) return true;
    at = frame.find(name, at + 1);
  }
  return false;
}

bool has_function(const e2e::RawProfile& p, const e2e::RawSample& s, const std::string& name) {
  for (const std::string& f : p.stack_functions(s))
    if (is_function(f, name)) return true;
  return false;
}

std::string joined_stack(const e2e::RawProfile& p, const e2e::RawSample& s) {
  std::string out;
  for (const std::string& f : p.stack_functions(s)) out += f + " ";
  return out;
}

std::string read_line(int fd) {
  std::string line;
  char c;
  while (read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

e2e::RawProfile read_raw_args(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"-raw", "-symbolize=none"};
  all.insert(all.end(), args.begin(), args.end());
  return e2e::parse_raw(e2e::pprof(all));
}

struct Share {
  int64_t wall = 0, count = 0;
};

TEST(WallE2E, FourThreadsFourWaysEachGetAQuarterWithTheirStateAndSyscall) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", "100"}};
  e2e::RunResult r = e2e::run({e2e::program("wall_mix"), "2"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;  // every wait returned normally
  ASSERT_NE(r.out.find("done\n"), std::string::npos) << r.out;
  std::map<std::string, double> lived;  // seconds each function ran, by its own clock
  {
    std::istringstream in(r.out);
    std::string name;
    double seconds;
    while (in >> name >> seconds) lived[name] = seconds;
  }
  EXPECT_EQ(r.err, "");

  std::vector<std::string> files = e2e::profiles(dir, "wall");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].find(".1.wall.pb.gz"), std::string::npos) << files[0];
  e2e::RawProfile p = e2e::read_raw(files[0]);
  EXPECT_EQ(p.period_type, "wall nanoseconds");
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.sample_types[0].substr(0, 13), "samples/count");
  EXPECT_EQ(p.sample_types[1].substr(0, 16), "wall/nanoseconds");
  EXPECT_TRUE(p.has_time);
  EXPECT_TRUE(p.has_duration);
  // 1e9/100, or the lower rate the sampler had to use, said in the comments.
  bool lowered = false;
  for (const std::string& c : p.comments) lowered |= c.find("LOWERED") != std::string::npos;
  if (lowered) EXPECT_GT(p.period, 10000000);
  else EXPECT_EQ(p.period, 10000000);

  const std::map<std::string, std::pair<std::string, std::set<std::string>>> expected = {
      {"burn", {"running", {""}}},
      {"nap", {"blocked", {"nanosleep", "clock_nanosleep"}}},
      {"wait_input", {"blocked", {"read"}}},
      {"wait_cond", {"blocked", {"futex"}}},
  };
  std::map<std::string, Share> share;
  Share all;
  for (const e2e::RawSample& s : p.samples) {
    for (const auto& [fn, want] : expected) {
      if (!has_function(p, s, fn)) continue;
      SCOPED_TRACE(fn + ": " + joined_stack(p, s));
      EXPECT_EQ(label(s, "state"), want.first);
      EXPECT_EQ(want.second.count(label(s, "syscall")), 1u) << label(s, "syscall");
      EXPECT_FALSE(label(s, "tid").empty());
      EXPECT_FALSE(label(s, "thread_name").empty());
      share[fn].count += s.values[0];
      share[fn].wall += s.values[1];
      all.count += s.values[0];
      all.wall += s.values[1];
    }
  }
  ASSERT_GT(all.wall, 0);
  for (const auto& [fn, want] : expected) {
    SCOPED_TRACE(fn);
    double wall_share = static_cast<double>(share[fn].wall) / static_cast<double>(all.wall);
    EXPECT_NEAR(wall_share, 0.25, 0.05);
    // The wall time a function's samples stand for is the time its thread spent in it, as
    // the function measured itself (about 2 s each).
    ASSERT_GT(lived[fn], 1.0) << r.out;
    EXPECT_NEAR(static_cast<double>(share[fn].wall) / (lived[fn] * 1e9), 1.0, 0.05);
    // Sampled all along, not once (a running thread waiting for a CPU answers late, and its
    // one sample then stands for the whole wait, so counts are not all equal).
    EXPECT_GT(share[fn].count, 40);
  }

  // The labels split the profile in the reference reader.
  e2e::RawProfile blocked = read_raw_args({"-tagfocus=state=blocked", files[0]});
  EXPECT_EQ(blocked.cum_containing(1, "burn"), 0);
  EXPECT_GT(blocked.cum_containing(1, "nap"), 0);
  EXPECT_GT(blocked.cum_containing(1, "wait_input"), 0);
  EXPECT_GT(blocked.cum_containing(1, "wait_cond"), 0);
  e2e::RawProfile reads = read_raw_args({"-tagfocus=syscall=read", files[0]});
  EXPECT_GT(reads.total(1), 0);
  EXPECT_EQ(reads.cum_containing(1, "wait_input"), reads.total(1));
  e2e::RawProfile running = read_raw_args({"-tagfocus=state=running", files[0]});
  EXPECT_GT(running.cum_containing(1, "burn"), 0);
  EXPECT_EQ(running.cum_containing(1, "nap"), 0);
}

TEST(WallE2E, ServerShowsTheLoopInEpollWaitAndTheWorkersInTheCondvarWait) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", "100"}};
  e2e::RunResult r = e2e::run({e2e::program("wall_server"), "2"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  std::vector<std::string> files = e2e::profiles(dir, "wall");
  ASSERT_EQ(files.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(files[0]);
  int64_t loop = 0, loop_epoll = 0, workers = 0, workers_condvar = 0, main_sleeps = 0;
  std::set<std::string> worker_tids;
  for (const e2e::RawSample& s : p.samples) {
    std::string stack = joined_stack(p, s);
    // main in clock_nanosleep (only SP and PC known; main's CFA needs rbp): its caller is
    // glibc's start code, never a stale slot of main's frame (worker_loop's address).
    if (label(s, "thread_name") == "wall_server" && label(s, "syscall") == "clock_nanosleep") {
      std::vector<std::string> fns = p.stack_functions(s);
      auto m = std::find(fns.begin(), fns.end(), "main");
      EXPECT_TRUE(m != fns.end() && m + 1 != fns.end() &&
                  (m[1] == "__libc_start_call_main" || m[1].rfind("__libc_start_main", 0) == 0))
          << stack;
      main_sleeps += s.values[1];
    }
    if (label(s, "thread_name") == "event-loop") {
      loop += s.values[1];
      if (label(s, "state") == "blocked" && label(s, "syscall") == "epoll_wait" &&
          has_function(p, s, "event_loop"))
        loop_epoll += s.values[1];
    }
    if (label(s, "thread_name") == "worker") {
      EXPECT_TRUE(has_function(p, s, "worker_loop")) << stack;
      workers += s.values[1];
      worker_tids.insert(label(s, "tid"));
      // std::condition_variable::wait (named "wait" where libdw sees it inlined) on
      // pthread_cond_wait.
      if (label(s, "state") == "blocked" && label(s, "syscall") == "futex" &&
          stack.find("pthread_cond_wait") != std::string::npos &&
          (has_function(p, s, "wait") || stack.find("condition_variable::wait") != std::string::npos))
        workers_condvar += s.values[1];
    }
  }
  EXPECT_EQ(worker_tids.size(), 4u);
  EXPECT_GT(main_sleeps, 0);
  ASSERT_GT(loop, 0);
  ASSERT_GT(workers, 0);
  EXPECT_GT(static_cast<double>(loop_epoll) / loop, 0.9);
  EXPECT_GT(static_cast<double>(workers_condvar) / workers, 0.9);
  // Four workers and the loop each lived ~2 s: the workers hold about 4x the loop's time.
  EXPECT_NEAR(static_cast<double>(workers) / loop, 4.0, 0.4);
}

TEST(WallE2E, NoWaitReturnsEarlyUnderTheWaitMatrixAt200Hz) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  // Only the wall profile (the threads profile and CPU timers have their own tests).
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", "200"}, {"PROFAGENT_THREADS", "0"},
           {"PROFAGENT_CPU_HZ", "0"}, {"PROFAGENT_HEAP_RATE", "0"}};
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("wait_matrix")}, o, &out_fd, &err_fd, &in_fd);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(read_line(out_fd), "ready");
  std::this_thread::sleep_for(std::chrono::seconds(3));  // ~600 samples of each thread
  ASSERT_EQ(write(in_fd, "wake\n", 5), 5);
  close(in_fd);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd, err_fd);
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_NE(r.out.find("early_returns=0"), std::string::npos) << r.out;
  EXPECT_EQ(r.err, "");

  std::vector<std::string> files = e2e::profiles(dir, "wall");
  ASSERT_EQ(files.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(files[0]);
  const std::map<std::string, std::string> waits = {
      {"w-poll", "wait_in_poll"},         {"w-nanosleep", "wait_in_nanosleep"},
      {"w-epoll_wait", "wait_in_epoll_wait"}, {"w-select", "wait_in_select"},
      {"w-sem_timedwait", "wait_in_sem_timedwait"}, {"w-condwait", "wait_in_cond_timedwait"},
      {"w-read", "wait_in_read"},         {"w-accept", "wait_in_accept"},
      {"w-sigwaitinfo", "wait_in_sigwaitinfo"}, {"w-read_nosig", "wait_in_read_nosig"}};
  std::map<std::string, int64_t> in_wait, total;
  for (const e2e::RawSample& s : p.samples) {
    std::string name = label(s, "thread_name");
    auto it = waits.find(name);
    if (it == waits.end()) continue;
    total[name] += s.values[1];
    if (label(s, "state") == "blocked" && has_function(p, s, it->second)) in_wait[name] += s.values[1];
  }
  for (const auto& [name, fn] : waits) {
    SCOPED_TRACE(name);
    ASSERT_GT(total[name], 0);
    EXPECT_GT(static_cast<double>(in_wait[name]) / total[name], 0.9);
  }
}

TEST(WallE2E, BadRateWarnsOnceAndLeavesTheProfileOff) {
  for (const char* bad : {"1001", "fast", "-1", ""}) {
    SCOPED_TRACE(bad);
    std::string dir = e2e::make_temp_dir();
    e2e::RunOptions o;
    o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", bad}};
    e2e::RunResult r = e2e::run({e2e::program("wall_mix"), "0.3"}, o);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, std::string("profagent: warning: PROFAGENT_WALL_HZ='") + bad +
                         "' is not a whole number from 0 to 1000; using 0 (off)\n");
    EXPECT_TRUE(e2e::profiles(dir, "wall").empty());
    EXPECT_EQ(e2e::profiles(dir, "cpu").size(), 1u);  // the rest of the agent runs on
  }
}

TEST(WallE2E, PushSendsTheWallProfileAsItsOwnType) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  e2e::IngestReceiver receiver(e2e::IngestReceiver::Mode::kOk);
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", "100"}, {"PROFAGENT_INTERVAL", "0.5"},
           {"PROFAGENT_PUSH_URL", receiver.url()}, {"PROFAGENT_APP_NAME", "mix"}};
  e2e::RunResult r = e2e::run({e2e::program("wall_mix"), "1.5"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> files = e2e::profiles(dir, "wall");
  ASSERT_GE(files.size(), 2u);
  std::vector<std::string> file_bytes;
  for (const std::string& f : files) {
    std::ifstream in(f, std::ios::binary);
    file_bytes.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(file_bytes.back().empty());
  }
  size_t wall_pushes = 0;
  for (const e2e::SeenRequest& q : receiver.requests()) {
    if (q.body.find("\"wall\":{\"units\":\"nanoseconds\"") == std::string::npos) continue;
    ++wall_pushes;
    EXPECT_EQ(q.query.at("name"), "mix");
    EXPECT_NE(q.body.find("\"display-name\":\"wall\""), std::string::npos);
    // Pushed in order: the n-th wall push is the n-th wall file's bytes.
    ASSERT_LE(wall_pushes, file_bytes.size());
    EXPECT_NE(q.body.find(file_bytes[wall_pushes - 1]), std::string::npos)
        << "push " << wall_pushes << " is not the bytes of " << files[wall_pushes - 1];
  }
  // Every periodic dump's file was pushed. Only the exit dump's may be missing: the agent
  // gives its push at most 1 s at exit by design, which a loaded machine can exceed.
  EXPECT_GE(wall_pushes + 1, file_bytes.size());
  EXPECT_GE(wall_pushes, 1u);
}

TEST(WallE2E, ForkedChildrenSampleThemselvesUnderTheirOwnPid) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_WALL_HZ", "100"}, {"PROFAGENT_CPU_HZ", "0"}};
  e2e::RunResult r = e2e::run({e2e::program("fork_storm"), "2"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err, "");
  // Parent, 2 forked children, the vfork+exec and the posix_spawn children.
  std::vector<std::string> files = e2e::profiles(dir, "wall");
  ASSERT_EQ(files.size(), 5u);
  int parents = 0, forked = 0, leaves = 0;
  for (const std::string& f : files) {
    e2e::RawProfile p = e2e::read_raw(f);
    SCOPED_TRACE(f);
    int64_t parent = p.cum_containing(1, "parent_work"), child = p.cum_containing(1, "child_work"),
            leaf = p.cum_containing(1, "leaf_work");
    // Each process holds only its own work: a forked child's sampler starts anew.
    EXPECT_EQ((parent > 0) + (child > 0) + (leaf > 0), 1);
    parents += parent > 0;
    forked += child > 0;
    leaves += leaf > 0;
  }
  EXPECT_EQ(parents, 1);
  EXPECT_EQ(forked, 2);
  EXPECT_EQ(leaves, 2);
}

// The agent's "live profiling at http://127.0.0.1:PORT/" line, read from the program's stderr.
int wait_for_port(int err_fd, std::string* err) {
  std::regex re("live profiling at http://127\\.0\\.0\\.1:(\\d+)/");
  for (int i = 0; i < 300; ++i) {
    std::string line = read_line(err_fd);
    *err += line + "\n";
    std::smatch m;
    if (std::regex_search(line, m, re)) return std::stoi(m[1]);
    if (line.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return 0;
}

TEST(WallE2E, HttpWallEndpointServesAWindowEvenWithTheProfileOff) {
  if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_HTTP", "127.0.0.1:0"}, {"PROFAGENT_LOG", "info"}};
  int out_fd = -1, err_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("wall_server"), "8"}, o, &out_fd, &err_fd, nullptr);
  ASSERT_GT(pid, 0);
  std::string err;
  int port = wait_for_port(err_fd, &err);
  ASSERT_NE(port, 0) << err;
  std::string base = "http://127.0.0.1:" + std::to_string(port) + "/debug/pprof/";
  e2e::RunOptions plain;
  plain.preload = false;
  e2e::RunResult index = e2e::run({"curl", "-s", "--noproxy", "*", base}, plain);
  EXPECT_EQ(index.exit_code(), 0) << "curl: " << index.err;
  EXPECT_NE(index.out.find("<a href='wall'>wall</a>"), std::string::npos) << index.out;
  e2e::RawProfile p = read_raw_args({base + "wall?seconds=2"});
  kill(pid, SIGTERM);
  e2e::wait_for(pid, 30, out_fd, err_fd);
  EXPECT_EQ(p.period_type, "wall nanoseconds");
  int64_t loop = 0, loop_epoll = 0;
  for (const e2e::RawSample& s : p.samples) {
    if (!has_function(p, s, "event_loop")) continue;
    loop += s.values[1];
    if (label(s, "syscall") == "epoll_wait") loop_epoll += s.values[1];
  }
  ASSERT_GT(loop, 0);
  EXPECT_GT(static_cast<double>(loop_epoll) / loop, 0.9);
  // The window is 2 s: the loop's wall time is about that (it lived through all of it).
  EXPECT_NEAR(static_cast<double>(loop) / 2e9, 1.0, 0.1);
  // The profile was off: the window ran the sampler for itself, no wall file at exit.
  EXPECT_TRUE(e2e::profiles(dir, "wall").empty());
}

}  // namespace
