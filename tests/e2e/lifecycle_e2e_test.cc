// End-to-end: when dumps happen (dump signal, exit, termination signals), file naming and
// atomicity, bad configuration, and that the program's output and status never change.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "tests/e2e/support/e2e_support.h"

namespace {

class LifecycleE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  // Runs `argv` with PROFAGENT_DIR below a regular file (a directory that cannot be made):
  // it exits 0 and stderr has exactly one profagent line, the warning naming the path.
  e2e::RunResult run_with_unwritable_dir(const std::vector<std::string>& argv) {
    std::string file = dir_ + "/a-file";
    FILE* f = fopen(file.c_str(), "w");
    EXPECT_NE(f, nullptr);
    if (f != nullptr) fclose(f);
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", file + "/sub"}};
    e2e::RunResult r = e2e::run(argv, options);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_NE(r.err.find("profagent: warning: PROFAGENT_DIR: cannot create " + file + "/sub"),
              std::string::npos)
        << r.err;
    // One warning, not one per dump.
    size_t first = r.err.find("profagent:");
    EXPECT_EQ(r.err.find("profagent:", first + 1), std::string::npos) << r.err;
    return r;
  }
  // Waits until `count` cpu files exist (dumps are asynchronous to the signal).
  bool wait_for_cpu_files(size_t count) {
    for (int i = 0; i < 200; ++i) {
      if (e2e::profiles(dir_, "cpu").size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  std::string read_line(int fd) {
    std::string line;
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  std::string dir_;
};

TEST_F(LifecycleE2E, DumpSignalTwiceThenExitGivesThreeNumberedDumps) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}};
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("wait_for_signals")}, options, &out_fd, &err_fd,
                                  &in_fd);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(read_line(out_fd), "ready");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGUSR2);
  ASSERT_TRUE(wait_for_cpu_files(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGUSR2);
  ASSERT_TRUE(wait_for_cpu_files(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  close(in_fd);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd, err_fd);
  EXPECT_EQ(r.exit_code(), 3);
  EXPECT_EQ(r.out, "done with work\n");
  EXPECT_EQ(r.err, "");

  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 3u);
  std::string base = dir_ + "/wait_for_signals." + std::to_string(pid) + ".";
  for (int seq = 1; seq <= 3; ++seq)
    EXPECT_EQ(files[seq - 1], base + std::to_string(seq) + ".cpu.pb.gz");
  // Each dump is a delta holding the program's own work, and nothing is left half-written.
  for (const std::string& f : files) {
    e2e::RawProfile p = e2e::read_raw(f);
    EXPECT_GT(p.cum_containing(p.sample_index("cpu"), "steady_work"), 0) << f;
  }
  for (const std::string& name : e2e::all_files(dir_))
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;

  // Without the agent: the same output and status.
  e2e::RunOptions plain;
  plain.preload = false;
  int in2 = -1, out2 = -1, err2 = -1;
  int pid2 = e2e::start_with_pipes({e2e::program("wait_for_signals")}, plain, &out2, &err2, &in2);
  ASSERT_EQ(read_line(out2), "ready");
  close(in2);
  e2e::RunResult r2 = e2e::wait_for(pid2, 60, out2, err2);
  EXPECT_EQ(r2.exit_code(), r.exit_code());
  EXPECT_EQ(r2.out, r.out);
}

// A termination signal that reaches a fork child before its atfork handler ran (sent right
// after fork() returned in the parent) kills it at once: the child has no dump thread yet,
// and the termination handler must not wait for the parent's (its wait is bounded at 5 s;
// "slow" counts children reaped more than 2 s after the kill: 10 of 10 before the fix).
TEST_F(LifecycleE2E, ForkChildKilledRightAfterForkDiesAtOnce) {
  for (const char* sig : {"15", "2", "1"}) {
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir_}};
    options.timeout_seconds = 120;
    e2e::RunResult r = e2e::run({e2e::program("fork_kill_child"), "10", sig}, options);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "killed 10/10, slow 0\n") << "signal " << sig;
  }
}

TEST_F(LifecycleE2E, SigtermDumpsThenDiesOfSigterm) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}};
  int out_fd = -1, err_fd = -1, in_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("wait_for_signals")}, options, &out_fd, &err_fd,
                                  &in_fd);
  ASSERT_EQ(read_line(out_fd), "ready");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGTERM);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd, err_fd);
  close(in_fd);
  EXPECT_EQ(r.term_signal(), SIGTERM);
  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(files[0]);
  EXPECT_GT(p.cum_containing(p.sample_index("cpu"), "steady_work"), 0);
}

// A program that signals itself runs no further after the signal: the dump happens while
// the receiving thread waits, and the process dies of the signal (not exit 0 after the
// handler returned, which would change its status).
TEST_F(LifecycleE2E, SelfSentSigtermStopsTheProgramAtOnce) {
  for (bool preload : {false, true}) {
    e2e::RunOptions options;
    options.preload = preload;
    options.env = {{"PROFAGENT_DIR", dir_}};
    e2e::RunResult r = e2e::run({"/bin/sh", "-c", "kill -TERM $$; echo after"}, options);
    EXPECT_EQ(r.term_signal(), SIGTERM) << "preload " << preload << " status " << r.wait_status;
    EXPECT_EQ(r.out, "") << "preload " << preload;
  }
  // The dump ran: a termination signal's final dump writes where the one thread was.
  EXPECT_EQ(e2e::profiles(dir_, "threads").size(), 1u);
}

// The exit dump leaves out what has nothing in it: a shell's /bin/true writes no file, a
// CPU-bound single-threaded program only its CPU profile, and a process with a second
// thread still there at exit its threads profile (both threads).
TEST_F(LifecycleE2E, ExitDumpLeavesOutKindsWithNothingInThem) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_ + "/true"}};
  ASSERT_EQ(e2e::run({"/bin/true"}, options).exit_code(), 0);
  EXPECT_TRUE(e2e::all_files(dir_ + "/true").empty());

  options.env = {{"PROFAGENT_DIR", dir_ + "/burn"}};
  e2e::RunResult burn = e2e::run({e2e::program("burn_ratio"), "1", "2", "10000000"}, options);
  ASSERT_EQ(burn.exit_code(), 0) << burn.err;
  std::vector<std::string> cpu = e2e::profiles(dir_ + "/burn", "cpu");
  ASSERT_EQ(cpu.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(cpu[0]);
  EXPECT_GT(p.cum_containing(p.sample_index("cpu"), "burn_three"), 0);
  // Its worker was joined: only main, in exit, was left.
  EXPECT_TRUE(e2e::profiles(dir_ + "/burn", "threads").empty());

  options.env = {{"PROFAGENT_DIR", dir_ + "/two"}, {"PROFAGENT_CPU_HZ", "0"},
                 {"PROFAGENT_HEAP_RATE", "0"}};
  e2e::RunResult two = e2e::run(
      {"/usr/bin/python3", "-c",
       "import threading, time\n"
       "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
       "time.sleep(0.1)\n"},
      options);
  ASSERT_EQ(two.exit_code(), 0) << two.err;
  std::vector<std::string> threads = e2e::profiles(dir_ + "/two", "threads");
  ASSERT_EQ(threads.size(), 1u);
  e2e::RawProfile t = e2e::read_raw(threads[0]);
  EXPECT_EQ(t.total(t.sample_index("threads")), 2);

}

// C11 threads (thrd_create, which glibc starts through an internal pthread_create no
// interposer sees) are started by the agent as glibc would: the burner has its CPU timer
// (its samples are in the CPU profile), thrd_join gets each int result (returned, or given
// to thrd_exit), and the sleeper left
// running at exit keeps the threads profile (the exit dump knows of it without /proc).
TEST_F(LifecycleE2E, C11ThreadsAreProfiledAndKeepTheirResults) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "200"}};
  e2e::RunResult r = e2e::run({e2e::program("c11_thread_exit")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "joined 42 -7\n");
  std::vector<std::string> cpu = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(cpu.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(cpu[0]);
  int64_t total = p.total(p.sample_index("samples"));
  EXPECT_GT(p.cum_containing(p.sample_index("samples"), "c11_burn"), total / 2)
      << "the C11 thread's CPU was not sampled";
  std::vector<std::string> threads = e2e::profiles(dir_, "threads");
  ASSERT_EQ(threads.size(), 1u);
  e2e::RawProfile t = e2e::read_raw(threads[0]);
  EXPECT_EQ(t.total(t.sample_index("threads")), 2);
  EXPECT_EQ(t.cum_containing(t.sample_index("threads"), "c11_sleeper"), 1);
}

TEST_F(LifecycleE2E, UnwritableDirectoryWarnsOnceAndProgramRunsUnchanged) {
  e2e::RunResult r = run_with_unwritable_dir({e2e::program("burn_ratio"), "2", "2"});
  EXPECT_NE(r.out.find("cpu_ns"), std::string::npos);
}

// The output directory is checked by the dump thread shortly after start, not only when a
// profile is written: a program that writes nothing still hears about it, once.
TEST_F(LifecycleE2E, UnwritableDirectoryWarnsAlsoWhenNothingIsWritten) {
  run_with_unwritable_dir({"/bin/sleep", "0.2"});
}

// A program that sets a locale with a decimal comma (coreutils' sort does, setlocale(LC_ALL,
// "")) keeps its output, and the profiles' comments keep their decimal point ("2.10ms", not
// "2,10ms"). The German locale is compiled with localedef (package locales) for the test.
TEST_F(LifecycleE2E, AProgramsDecimalCommaLocaleLeavesTheCommentsReadable) {
  std::string locales = dir_ + "/locales";
  std::filesystem::create_directories(locales);
  ASSERT_EQ(std::system(("localedef -i de_DE -f UTF-8 " + locales +
                         "/de_DE.UTF-8 >/dev/null 2>&1").c_str()), 0)
      << "localedef (package locales) is required";
  std::string input;
  for (int i = 0; i < 100000; ++i) input += std::to_string((i * 7919) % 100003) + ",5\n";
  e2e::RunOptions options;
  options.stdin_data = input;
  options.env = {{"LOCPATH", locales}, {"LC_ALL", "de_DE.UTF-8"}, {"PROFAGENT_DIR", dir_},
                 {"PROFAGENT_HEAP_RATE", "1"}};
  e2e::RunResult with = e2e::run({"/usr/bin/sort", "-g"}, options);
  options.preload = false;
  e2e::RunResult without = e2e::run({"/usr/bin/sort", "-g"}, options);
  ASSERT_EQ(with.exit_code(), 0) << with.err;
  EXPECT_EQ(with.out, without.out);
  EXPECT_EQ(with.out.substr(0, 8), "0,5\n1,5\n") << "sort did not use the German locale";
  std::vector<std::string> heap = e2e::profiles(dir_, "heap");
  ASSERT_EQ(heap.size(), 1u);
  int self_lines = 0;
  for (const std::string& c : e2e::read_raw(heap[0]).comments) {
    if (c.rfind("profagent self: agent=", 0) != 0) continue;
    ++self_lines;
    EXPECT_TRUE(std::regex_search(c, std::regex("agent=[0-9]+(\\.[0-9]+)?(ns|us|ms|s) \\([0-9]+\\.[0-9]{3}% ")))
        << c;
  }
  EXPECT_EQ(self_lines, 1);
}

TEST_F(LifecycleE2E, BadValueWarnsNamingVariableAndUsesDefault) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "fast"}};
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "2"}, options);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_NE(r.err.find("profagent: warning: PROFAGENT_CPU_HZ='fast'"), std::string::npos)
      << r.err;
  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(e2e::read_raw(files[0]).period, 10000000);  // the default 100 Hz
}

TEST_F(LifecycleE2E, RelativeDirIsResolvedAtStart) {
  e2e::RunOptions options;
  options.cwd = dir_;
  options.env = {{"PROFAGENT_DIR", "out/nested"}};
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "2"}, options);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(e2e::profiles(dir_ + "/out/nested", "cpu").size(), 1u);
}

// The agent exports exactly the functions it interposes (agent/exports.map), nothing else:
// no C++ symbol of ours, of spdlog, fmt or protobuf can clash with the host's.
// Installed in a directory with a short name (/usr/lib is 8 characters): the agent's start
// remembers its directory before its own globals are constructed, which once crashed here.
TEST(InstallDirectory, ShortDirectoryNameStartsAndSymbolizes) {
  // In the temporary directory (TMPDIR, else /tmp), where the tests may execute files.
  std::string tmpl = (std::filesystem::temp_directory_path() / "paXXXXXX").string();
  ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
  std::string lib = tmpl;
  std::string so = e2e::agent_so();
  std::string from = so.substr(0, so.rfind('/'));
  for (const char* name : {"libprofagent.so", "libprofagent-symbolize.so"}) {
    std::ifstream in(from + "/" + name, std::ios::binary);
    std::ofstream out(lib + "/" + name, std::ios::binary);
    out << in.rdbuf();
  }
  std::string dir = e2e::make_temp_dir();
  e2e::RunOptions o;
  o.preload = false;
  o.env = {{"LD_PRELOAD", lib + "/libprofagent.so"}, {"PROFAGENT_DIR", dir},
           {"PROFAGENT_CPU_HZ", "250"}};
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "100"}, o);
  unlink((lib + "/libprofagent.so").c_str());
  unlink((lib + "/libprofagent-symbolize.so").c_str());
  rmdir(lib.c_str());
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> files = e2e::profiles(dir, "cpu");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_GT(e2e::read_raw(files[0]).cum_containing(0, "burn_one"), 0);
}

// The symbols libprofagent.so defines for others (`nm -D --defined-only`), by name without
// its version, with the line nm printed.
struct Export {
  std::string name;
  uint64_t address = 0;
  std::string line;
};

std::vector<Export> agent_exports() {
  e2e::RunOptions options;
  options.preload = false;
  e2e::RunResult r = e2e::run({"nm", "-D", "--defined-only", e2e::agent_so()}, options);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  std::vector<Export> exports;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string address, type, name;
    fields >> address >> type >> name;
    if (name.empty()) continue;
    exports.push_back({name.substr(0, name.find('@')), std::stoull(address, nullptr, 16), line});
  }
  return exports;
}

TEST(Exports, OnlyTheInterposedFunctions) {
  std::ifstream map_file(std::string(PROFAGENT_SOURCE_DIR) + "/agent/exports.map");
  std::string map((std::istreambuf_iterator<char>(map_file)), std::istreambuf_iterator<char>());
  std::set<std::string> allowed;
  std::smatch m;
  std::string rest = map.substr(map.find("global:"), map.find("local:") - map.find("global:"));
  std::regex symbol_re(R"(^\s*([A-Za-z_][A-Za-z0-9_]*);)");
  std::istringstream lines(rest);
  for (std::string line; std::getline(lines, line);)
    if (std::regex_search(line, m, symbol_re)) allowed.insert(m[1]);
  ASSERT_GT(allowed.size(), 10u);
  std::set<std::string> exported;
  for (const Export& e : agent_exports()) {
    EXPECT_TRUE(allowed.count(e.name)) << "unexpected export: " << e.line;
    exported.insert(e.name);
  }
  EXPECT_GE(exported.size(), 10u);
  EXPECT_TRUE(exported.count("malloc"));
  EXPECT_TRUE(exported.count("pthread_create"));
}

// The hooks every program call takes start a 64-byte line each (PROFAGENT_HOT_HOOK in
// agent/core/code_layout.h), wherever the code before them ends: 32 bytes added there once
// split pthread_mutex_lock's fast path over two lines (an uncontended pair 8.1 ns, not 7.3).
TEST(Exports, TheHotHooksStartACacheLineEach) {
  const std::set<std::string> hot = {"malloc", "free", "calloc", "realloc", "pthread_mutex_lock",
                                     "pthread_mutex_unlock", "pthread_rwlock_rdlock",
                                     "pthread_rwlock_wrlock", "pthread_rwlock_unlock"};
  size_t seen = 0;
  for (const Export& e : agent_exports()) {
    if (!hot.count(e.name)) continue;
    ++seen;
    EXPECT_EQ(e.address % 64, 0u) << e.line;
  }
  EXPECT_EQ(seen, hot.size());
}

}  // namespace
