// End-to-end: processes and files. A root master's worker that drops to `nobody` writes
// its profile (0600, its own); PROFAGENT_CHILDREN=0 keeps the agent out of every exec'd
// child while the host's environment stays its own; files are named after argv[0]; an
// output directory reached through another user's symlink is refused; the push URL's
// password never shows; the scripts/profagent wrapper's table of processes; and namespace
// changes that want the program to be the only thread (unshare -U, nsenter -m) work as
// without the agent, which keeps profiling after them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/ingest_receiver.h"

namespace fs = std::filesystem;

namespace {

constexpr uid_t kNobody = 65534;

class ProcsE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
    chmod(dir_.c_str(), 0755);  // reachable by a worker that drops to nobody
  }
  std::string dir_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

int count_lines_containing(const std::string& text, const std::string& needle) {
  int n = 0;
  for (const std::string& l : lines_of(text)) n += l.find(needle) != std::string::npos;
  return n;
}

// "<exe>.<pid>.<seq>.<kind>.pb.gz" -> (exe, pid)
std::pair<std::string, int> name_and_pid(const std::string& path) {
  static const std::regex re(R"(^(.+)\.(\d+)\.(\d+)\.([a-z]+)\.pb\.gz$)");
  std::smatch m;
  std::string base = fs::path(path).filename();
  if (!std::regex_match(base, m, re)) return {"", -1};
  return {m[1], std::stoi(m[2])};
}

// The pid of drop_privileges' worker, from the master's output (-1: it did not say it ran
// as nobody).
int nobody_worker_of(const e2e::RunResult& r) {
  std::smatch m;
  if (!std::regex_search(r.out, m, std::regex(R"(worker (\d+) done as uid 65534)"))) return -1;
  return std::stoi(m[1]);
}

TEST_F(ProcsE2E, WorkerThatDropsRootForNobodyWritesItsOwnPrivateProfile) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the master runs as root)";
  const std::string out = dir_ + "/profiles";  // created by the master, as root
  e2e::RunOptions options;
  // Every allocation sampled: the master, which only waits, has a heap profile to write too.
  options.env = {{"PROFAGENT_DIR", out}, {"PROFAGENT_HEAP_RATE", "1"}};
  e2e::RunResult r = e2e::run({e2e::program("drop_privileges")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const int worker = nobody_worker_of(r);
  ASSERT_GT(worker, 0) << r.out;
  EXPECT_EQ(r.err.find("lost"), std::string::npos) << r.err;
  struct stat st;
  ASSERT_EQ(stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u) << "a directory the agent creates behaves like /tmp";
  int worker_files = 0, master_files = 0;
  std::string worker_cpu;
  for (const std::string& name : e2e::all_files(out)) {
    const std::string f = out + "/" + name;
    ASSERT_EQ(stat(f.c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    auto [exe, pid] = name_and_pid(f);
    EXPECT_EQ(exe, "drop_privileges") << f;
    if (pid == worker) {
      ++worker_files;
      EXPECT_EQ(st.st_uid, kNobody) << f;
      EXPECT_EQ(st.st_gid, kNobody) << f;
      if (f.find(".cpu.pb.gz") != std::string::npos) worker_cpu = f;
    } else {
      ++master_files;
      EXPECT_EQ(st.st_uid, 0u) << f;
    }
  }
  EXPECT_GE(worker_files, 2);  // cpu, heap
  EXPECT_GE(master_files, 1);  // heap
  ASSERT_FALSE(worker_cpu.empty()) << "the worker's CPU profile was not written";
  EXPECT_NE(e2e::pprof({"-top", worker_cpu}).find("worker_burn"), std::string::npos);
}

// A root master whose unwind tables are all cached maps none at start, and neither does its
// worker until it walks; the worker becomes `nobody` first, and could then no longer open
// root's 0600 cache files: the setuid hook maps them before the switch, so the worker's
// samples are walked with the tables (none read its rules from .eh_frame; before, every one).
TEST_F(ProcsE2E, AWorkerThatDropsRootMapsItsDeferredTablesBeforeTheSwitch) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the master runs as root)";
  const std::string out = dir_ + "/profiles";
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", out}, {"PROFAGENT_SYMBOL_CACHE", dir_ + "/cache"}};
  ASSERT_EQ(e2e::run({e2e::program("drop_privileges")}, options).exit_code(), 0);  // caches
  std::filesystem::remove_all(out);
  e2e::RunResult r = e2e::run({e2e::program("drop_privileges")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  const int worker = nobody_worker_of(r);
  ASSERT_GT(worker, 0) << r.out;
  std::string unwinding;
  for (const std::string& name : e2e::all_files(out)) {
    auto [exe, pid] = name_and_pid(out + "/" + name);
    if (pid != worker || name.find(".cpu.pb.gz") == std::string::npos) continue;
    for (const std::string& c : e2e::read_raw(out + "/" + name).comments)
      if (c.starts_with("profagent unwinding:")) unwinding = c;
  }
  ASSERT_FALSE(unwinding.empty()) << "the worker wrote no CPU profile";
  EXPECT_NE(unwinding.find("; 0 walks before them"), std::string::npos) << unwinding;
  EXPECT_NE(unwinding.find("the cached tables mapped"), std::string::npos) << unwinding;
}

// The agent's own entries: what PROFAGENT_CHILDREN=0 strips from a child's environment.
bool agent_entry(const std::string& e) {
  return e.rfind("PROFAGENT_", 0) == 0 || e.rfind("LD_PRELOAD=", 0) == 0;
}

TEST_F(ProcsE2E, ChildrenOffKeepsTheAgentOutOfExecedChildrenAndTheHostEnvironmentAsIs) {
  const std::string preload = e2e::agent_so() + " libm.so.6";  // the loader also splits on ' '
  e2e::RunOptions options;
  options.preload = false;
  // A known environment: the CI's may hold values the line-based comparison cannot carry
  // (exported shell functions, multi-line values) or names sh does not pass on.
  options.inherit_environment = false;
  options.env = {{"LD_PRELOAD", preload},
                 {"PROFAGENT_DIR", dir_},
                 {"PROFAGENT_CHILDREN", "0"},
                 {"PROFAGENT_HEAP_RATE", "1"},  // any process with the agent writes a file
                 {"PROFAGENT_THREADS", "off"},
                 {"PROFAGENT_MARK", "x y=z"}};
  e2e::RunResult r = e2e::run({e2e::program("exec_children")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  ASSERT_NE(r.out.find("\ndone\n"), std::string::npos) << r.out;

  std::vector<std::string> host_environ, host_proc;
  std::map<std::string, std::vector<std::string>> children;  // way -> env lines
  std::string way;
  for (const std::string& l : lines_of(r.out)) {
    if (l.rfind("HOST-ENVIRON ", 0) == 0) host_environ.push_back(l.substr(13));
    else if (l.rfind("HOST-PROC ", 0) == 0) host_proc.push_back(l.substr(10));
    else if (l.rfind("== ", 0) == 0) children[way = l.substr(3)];
    else if (!way.empty() && l != "done") children[way].push_back(l);
  }
  // The host's own view is unchanged: every variable it was started with, as it was.
  const std::vector<std::string> started = [&] {
    std::vector<std::string> v = host_proc;
    std::sort(v.begin(), v.end());
    return v;
  }();
  std::vector<std::string> sorted_environ = host_environ;
  std::sort(sorted_environ.begin(), sorted_environ.end());
  EXPECT_EQ(sorted_environ, started);
  EXPECT_NE(std::find(host_proc.begin(), host_proc.end(), "LD_PRELOAD=" + preload),
            host_proc.end());
  EXPECT_NE(r.out.find("HOST-GETENV LD_PRELOAD=" + preload + "\n"), std::string::npos);
  EXPECT_NE(r.out.find("HOST-GETENV PROFAGENT_CHILDREN=0\n"), std::string::npos);
  EXPECT_NE(r.out.find("HOST-GETENV PROFAGENT_DIR=" + dir_ + "\n"), std::string::npos);

  // Each child sees the host's environment without the agent's own entries, the other
  // preloaded library kept.
  std::vector<std::string> expected;
  for (const std::string& e : started)
    if (!agent_entry(e)) expected.push_back(e);
  expected.push_back("LD_PRELOAD=libm.so.6");
  std::sort(expected.begin(), expected.end());
  const std::vector<std::string> ways = {"system", "popen", "posix_spawnp", "execve", "execv",
                                         "vfork+execlp", "execvp", "execle-copy"};
  for (const std::string& w : ways) {
    std::vector<std::string> got = children[w];
    got.erase(std::remove_if(got.begin(), got.end(),
                             [](const std::string& e) {
                               // set by the shell of system()/popen() itself
                               return e.rfind("PWD=", 0) == 0 || e.rfind("SHLVL=", 0) == 0 ||
                                      e.rfind("_=", 0) == 0 || e.rfind("OLDPWD=", 0) == 0;
                             }),
              got.end());
    std::vector<std::string> want = expected;
    want.erase(std::remove_if(want.begin(), want.end(),
                              [](const std::string& e) {
                                return e.rfind("PWD=", 0) == 0 || e.rfind("SHLVL=", 0) == 0 ||
                                       e.rfind("_=", 0) == 0 || e.rfind("OLDPWD=", 0) == 0;
                              }),
               want.end());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want) << "environment of the child started with " << w;
  }
  // Only the host wrote profiles: no `env`, no `sh`.
  std::set<std::string> writers;
  for (const std::string& f : e2e::all_files(dir_)) writers.insert(name_and_pid(f).first);
  EXPECT_EQ(writers, std::set<std::string>{"exec_children"});
}

TEST_F(ProcsE2E, ChildrenOffSystemPopenAndExecBehaveAsWithoutTheAgent) {
  e2e::RunOptions no_agent;
  no_agent.preload = false;
  e2e::RunResult plain = e2e::run({e2e::program("spawn_semantics")}, no_agent);
  ASSERT_EQ(plain.exit_code(), 0) << plain.err;
  ASSERT_NE(plain.out.find("\ndone\n"), std::string::npos) << plain.out;
  e2e::RunOptions options;
  // Every allocation sampled: any process with the agent has a heap profile to write.
  options.env = {{"PROFAGENT_DIR", dir_},
                 {"PROFAGENT_CHILDREN", "0"},
                 {"PROFAGENT_HEAP_RATE", "1"}};
  e2e::RunResult r = e2e::run({e2e::program("spawn_semantics")}, options);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, plain.out);
  EXPECT_EQ(r.err, plain.err);
  std::set<std::string> writers;
  for (const std::string& f : e2e::all_files(dir_)) writers.insert(name_and_pid(f).first);
  EXPECT_EQ(writers, std::set<std::string>{"spawn_semantics"});
}

TEST_F(ProcsE2E, FilesAreNamedAfterTheNameTheProgramWasStartedAs) {
  const std::string link = dir_ + "/my-server";
  ASSERT_EQ(symlink(e2e::program("burn_ratio").c_str(), link.c_str()), 0);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_ + "/out"}};
  e2e::RunResult r = e2e::run({link, "1", "2", "10000000"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> cpu = e2e::profiles(dir_ + "/out", "cpu");
  ASSERT_EQ(cpu.size(), 1u);
  EXPECT_EQ(name_and_pid(cpu[0]).first, "my-server") << cpu[0];
}

TEST_F(ProcsE2E, DirectoryBehindAnotherUsersSymlinkIsRefusedWithOneWarning) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give a symlink to another user";
  const std::string target = dir_ + "/victim", link = dir_ + "/planted";
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  ASSERT_EQ(lchown(link.c_str(), kNobody, kNobody), 0);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", link}, {"PROFAGENT_SIGNAL", "none"}};
  e2e::RunOptions no_agent;
  no_agent.preload = false;
  e2e::RunResult plain = e2e::run({e2e::program("burn_ratio"), "1", "2", "10000000"}, no_agent);
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "2", "10000000"}, options);
  EXPECT_EQ(r.exit_code(), plain.exit_code());
  EXPECT_EQ(count_lines_containing(r.err, "profagent:"), 1) << r.err;
  EXPECT_EQ(count_lines_containing(r.err, link + " is a symlink owned by another user"), 1)
      << r.err;
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(ProcsE2E, WorldWritableDirectoryWithoutStickyBitGetsOneWarning) {
  const std::string out = dir_ + "/open";
  ASSERT_EQ(mkdir(out.c_str(), 0777), 0);
  ASSERT_EQ(chmod(out.c_str(), 0777), 0);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", out}};
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "2", "10000000"}, options);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(count_lines_containing(r.err, "profagent:"), 1) << r.err;
  EXPECT_EQ(count_lines_containing(r.err, "no sticky bit"), 1) << r.err;
  std::vector<std::string> cpu = e2e::profiles(out, "cpu");
  ASSERT_EQ(cpu.size(), 1u);
  struct stat st;
  ASSERT_EQ(stat(cpu[0].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

std::string base64(const std::string& in) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += abc[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    unsigned n = (unsigned char)in[i] << 16;
    out += std::string{abc[(n >> 18) & 63], abc[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    unsigned n = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
    out += std::string{abc[(n >> 18) & 63], abc[(n >> 12) & 63], abc[(n >> 6) & 63], '='};
  }
  return out;
}

// The gzipped "profile" part of a multipart body.
std::string profile_part(const std::string& body) {
  size_t name = body.find("name=\"profile\"");
  if (name == std::string::npos) return "";
  size_t start = body.find("\r\n\r\n", name);
  size_t end = body.find("\r\n--", start + 4);
  if (start == std::string::npos || end == std::string::npos) return "";
  return body.substr(start + 4, end - start - 4);
}

TEST_F(ProcsE2E, PushPasswordIsNeverLoggedStoredOrSentButAuthenticates) {
  e2e::IngestReceiver receiver(e2e::IngestReceiver::Mode::kOk);
  const std::string user = "alice", password = "s3cr3t-Pw", host = receiver.url().substr(7);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_},
                 {"PROFAGENT_PUSH_URL", "http://" + user + ":" + password + "@" + host},
                 {"PROFAGENT_LOG", "debug"},
                 {"PROFAGENT_INTERVAL", "0.3"}};
  // Longer than a few intervals: periodic pushes happen while it runs, not only in the
  // agent's bounded flush at exit.
  e2e::RunResult r = e2e::run({e2e::program("burn_ratio"), "1", "40", "4000000"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.err.find(password), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("pushing profiles to http://" + host), std::string::npos) << r.err;

  std::vector<std::string> files = e2e::all_files(dir_);
  ASSERT_FALSE(files.empty());
  bool saw_push_comment = false;
  for (const std::string& name : files) {
    const std::string f = dir_ + "/" + name;
    e2e::RawProfile raw = e2e::read_raw(f);
    for (const std::string& c : raw.comments) {
      EXPECT_EQ(c.find(password), std::string::npos) << f << ": " << c;
      EXPECT_EQ(c.find(user + ":"), std::string::npos) << f << ": " << c;
      saw_push_comment |= c.find("to http://" + host) != std::string::npos;
    }
  }
  EXPECT_TRUE(saw_push_comment);

  std::vector<e2e::SeenRequest> requests = receiver.requests();
  ASSERT_FALSE(requests.empty());
  int checked = 0;
  for (const e2e::SeenRequest& q : requests) {
    EXPECT_EQ(q.headers.at("authorization"), "Basic " + base64(user + ":" + password))
        << "the credentials still authenticate the push";
    EXPECT_EQ(q.path.find(password), std::string::npos);
    for (const auto& [k, v] : q.query) EXPECT_EQ(v.find(password), std::string::npos) << k;
    std::string part = profile_part(q.body);
    if (part.empty()) continue;
    const std::string file = dir_ + "/pushed." + std::to_string(checked++) + ".pb.gz.in";
    std::ofstream(file, std::ios::binary) << part;
    for (const std::string& c : e2e::read_raw(file).comments)
      EXPECT_EQ(c.find(password), std::string::npos) << "pushed profile comment: " << c;
  }
  EXPECT_GT(checked, 0);
}

// The wrapper's table: one row per process that wrote profiles, the command itself marked,
// and the top 10 of the command only (its child's busy function is not in it).
e2e::RunResult run_wrapper(const std::vector<std::string>& wrapper_args,
                           const std::string& shell_command,
                           const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {std::string(PROFAGENT_SOURCE_DIR) + "/scripts/profagent"};
  argv.insert(argv.end(), wrapper_args.begin(), wrapper_args.end());
  argv.insert(argv.end(), {"--", "bash", "-c", shell_command});
  e2e::RunOptions options;
  options.preload = false;
  options.env = {{"PROFAGENT_BUILD_DIR", fs::path(e2e::agent_so()).parent_path().string()}};
  options.env.insert(env.begin(), env.end());
  return e2e::run(argv, options);
}

struct TableRow {
  std::string exe;
  int pid = 0;
  bool main = false;
  std::string kinds;
  long cpu_samples = -1;
};

std::vector<TableRow> parse_table(const std::string& err) {
  std::vector<TableRow> rows;
  bool in_table = false;
  // exe, pid (* = the command), kinds, then per kind over time its total ("cpu: 12 samples; ...").
  static const std::regex row(R"(^  (\S+)\s+(\d+)(\*?)\s+(\S+)\s+(.+)$)");
  static const std::regex cpu_total(R"((^|; )cpu: (\d+) samples)");
  for (const std::string& l : lines_of(err)) {
    if (l.rfind("  exe ", 0) == 0) {
      in_table = true;
      continue;
    }
    std::smatch m;
    if (!in_table) continue;
    if (!std::regex_match(l, m, row)) break;
    std::smatch cpu;
    const std::string totals = m[5];
    rows.push_back({m[1], std::stoi(m[2]), m[3] == "*", m[4],
                    std::regex_search(totals, cpu, cpu_total) ? std::stol(cpu[2]) : -1});
  }
  return rows;
}

// A command too short to have anything to write: the wrapper says why there is no file.
// (CPU sampling off: on a loaded machine `bash -c /bin/true` can pass 10 ms of CPU, the
// thread's clock counting bash's start before its exec, and take a sample.)
TEST_F(ProcsE2E, WrapperSaysWhyACommandWithNothingToWriteLeftNoFile) {
  e2e::RunResult r =
      run_wrapper({"--dir", dir_ + "/t"}, "/bin/true", {{"PROFAGENT_CPU_HZ", "0"}});
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_TRUE(e2e::all_files(dir_ + "/t").empty());
  EXPECT_NE(r.err.find("no process wrote a profile: at exit a kind with nothing in it is left out"),
            std::string::npos)
      << r.err;
}

TEST_F(ProcsE2E, WrapperPrintsATableOfProcessesAndTheTopOfTheCommandOnly) {
  const std::string burn = e2e::program("burn_ratio");
  const std::string command =
      "x=0; for i in $(seq 100000); do x=$((x+i)); done; " + burn +
      " 1 20 8000000 >/dev/null; /bin/true; exit 0";
  e2e::RunResult r = run_wrapper({"--dir", dir_ + "/p", "--threads", "0"}, command);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<TableRow> rows = parse_table(r.err);
  ASSERT_GE(rows.size(), 2u) << r.err;  // bash, burn_ratio (seq if it got a sample)
  // /bin/true had nothing to write at exit: no file, no row.
  for (const TableRow& t : rows) EXPECT_NE(t.exe, "true") << r.err;
  std::set<int> file_pids;
  for (const std::string& f : e2e::all_files(dir_ + "/p")) file_pids.insert(name_and_pid(f).second);
  EXPECT_EQ(rows.size(), file_pids.size()) << r.err;
  EXPECT_TRUE(rows[0].main) << r.err;
  EXPECT_EQ(rows[0].exe, "bash");
  EXPECT_GT(rows[0].cpu_samples, 0);
  EXPECT_EQ(rows[0].kinds, "cpu,heap") << "--threads 0";
  int burn_pid = 0;
  for (const TableRow& t : rows) {
    EXPECT_EQ(t.main, &t == &rows[0]);
    if (t.exe == "burn_ratio") {
      burn_pid = t.pid;
      EXPECT_GT(t.cpu_samples, 20) << r.err;
    }
  }
  ASSERT_NE(burn_pid, 0) << r.err;
  const std::string top_header =
      "profagent: top 10 functions of bash (pid " + std::to_string(rows[0].pid) + ", cpu):";
  size_t top = r.err.find(top_header);
  ASSERT_NE(top, std::string::npos) << r.err;
  // Not a merge: the child's burn functions are not in the command's top 10.
  EXPECT_EQ(r.err.find("burn_three", top), std::string::npos) << r.err;

  // --no-children: the command alone.
  e2e::RunResult alone = run_wrapper({"--dir", dir_ + "/q", "--no-children"}, command);
  ASSERT_EQ(alone.exit_code(), 0) << alone.err;
  std::vector<TableRow> only = parse_table(alone.err);
  ASSERT_EQ(only.size(), 1u) << alone.err;
  EXPECT_TRUE(only[0].main);
  EXPECT_EQ(only[0].exe, "bash");
  EXPECT_EQ(only[0].kinds, "cpu,heap");  // one thread at exit: no threads profile
}

TEST_F(ProcsE2E, WrapperHelpNamesEveryOption) {
  e2e::RunOptions no_agent;
  no_agent.preload = false;
  e2e::RunResult r =
      e2e::run({std::string(PROFAGENT_SOURCE_DIR) + "/scripts/profagent", "--help"}, no_agent);
  for (const char* option : {"--children", "--no-children", "--threads", "--http", "--open",
                             "--dir", "--cpu-hz", "--interval"})
    EXPECT_NE(r.err.find(option), std::string::npos) << option << "\n" << r.err;
}

// Runs namespace_change MODE under the agent (CPU at 1000 Hz); once its first line is
// `first_line`, lets it burn 0.3 s and sends SIGTERM: it must die of it with a CPU profile of
// that burn written (the dump thread is there to write it).
void expect_dumps_when_terminated_after(const std::string& dir, const std::string& mode,
                                        const std::string& first_line) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_CPU_HZ", "1000"}};
  int out_fd = -1;
  int pid = e2e::start({e2e::program("namespace_change"), mode, "60"}, options, &out_fd);
  ASSERT_GT(pid, 0);
  std::string seen;
  char buf[256];
  while (seen.find('\n') == std::string::npos) {
    ssize_t n = read(out_fd, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
  }
  ASSERT_EQ(seen, first_line);
  usleep(300 * 1000);
  kill(pid, SIGTERM);
  e2e::RunResult r = e2e::wait_for(pid, 60, out_fd);
  EXPECT_EQ(r.term_signal(), SIGTERM) << r.err;
  // (The vfork child's /bin/true writes its own CPU profile when its start took a sample,
  // as it can on a loaded machine: only the program's own files count here.)
  std::vector<std::string> files;
  for (const std::string& f : e2e::profiles(dir, "cpu"))
    if (std::filesystem::path(f).filename().string().rfind("namespace_change.", 0) == 0)
      files.push_back(f);
  ASSERT_EQ(files.size(), 1u) << r.err;
  e2e::RawProfile p = e2e::read_raw(files[0]);
  EXPECT_GT(p.cum_containing(p.sample_index("cpu"), "burn_after_change"), 100 * 1000000LL);
}

// unshare(CLONE_NEWUSER) and setns() into a mount namespace need the caller to be the
// process's only thread; the agent's threads made them fail with EINVAL (`unshare -U`,
// `nsenter -m`, bubblewrap, rootless podman). Each call now gives what it gives without the
// agent (whatever this machine allows), and the agent samples on afterwards: the CPU and
// wall profiles hold the burn that follows the change (the dump and wall threads came back).
TEST_F(ProcsE2E, NamespaceChangesThatWantOneThreadGiveWhatTheyGiveWithoutTheAgent) {
  for (const char* mode : {"user", "mnt", "user-thread", "repeat"}) {
    SCOPED_TRACE(mode);
    e2e::RunOptions bare;
    bare.preload = false;
    e2e::RunResult without = e2e::run({e2e::program("namespace_change"), mode, "0.05"}, bare);
    ASSERT_EQ(without.exit_code(), 0) << without.err;
    std::string dir = dir_ + "/" + mode;
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_CPU_HZ", "1000"},
                   {"PROFAGENT_WALL_HZ", "200"}};
    e2e::RunResult with = e2e::run({e2e::program("namespace_change"), mode, "0.4"}, options);
    ASSERT_EQ(with.exit_code(), 0) << with.err;
    EXPECT_EQ(with.out, without.out) << with.err;
    EXPECT_EQ(with.err.find("profagent: warning"), std::string::npos) << with.err;
    for (const char* kind : {"cpu", "wall"}) {
      std::vector<std::string> files = e2e::profiles(dir, kind);
      ASSERT_EQ(files.size(), 1u) << kind;
      e2e::RawProfile p = e2e::read_raw(files[0]);
      int64_t after = p.cum_containing(p.sample_index(kind), "burn_after_change");
      EXPECT_GT(after, 200 * 1000000LL) << kind << ": 0.4 s of burn after the change";
    }
  }
}

// The real tools, as an SRE runs them: same output and exit status with the agent.
TEST_F(ProcsE2E, UnshareAndNsenterWorkAsWithoutTheAgent) {
  const std::string self = std::to_string(getpid());
  const std::vector<std::vector<std::string>> commands = {
      {"unshare", "-U", "id", "-u"},
      {"unshare", "-U", "-r", "id", "-u"},
      {"nsenter", "-t", self, "-m", "echo", "in the mount namespace"},
      {"nsenter", "-t", self, "-m", "-n", "-u", "echo", "in three namespaces"},
      // After unshare(CLONE_NEWPID) the process can make no thread: the agent's threads do
      // not come back, quietly (its exit dump still runs).
      {"unshare", "-U", "-p", "-f", "-r", "sh", "-c", "echo pid $$"},
  };
  for (const auto& command : commands) {
    SCOPED_TRACE(command[0] + " " + command[1] + " " + command[2]);
    e2e::RunOptions bare;
    bare.preload = false;
    e2e::RunResult without = e2e::run(command, bare);
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir_}};
    e2e::RunResult with = e2e::run(command, options);
    EXPECT_EQ(with.exit_code(), without.exit_code()) << with.err;
    EXPECT_EQ(with.out, without.out) << with.err;
    EXPECT_EQ(with.err, without.err);  // not a line of the agent's
  }
}

// A termination signal after the change finds the dump thread back: the process dies of
// SIGTERM with its profile written.
TEST_F(ProcsE2E, TerminationAfterANamespaceChangeStillDumps) {
  e2e::RunOptions bare;
  bare.preload = false;
  e2e::RunResult without = e2e::run({e2e::program("namespace_change"), "user", "0"}, bare);
  const std::string first_line = without.out.substr(0, without.out.find('\n') + 1);
  expect_dumps_when_terminated_after(dir_, "user", first_line);  // (the change succeeded where
  // this machine allows it: its line is as without the agent)
}

// Namespace changes more frequent than PROFAGENT_INTERVAL do not put the periodic dumps
// off: the next one's deadline outlives the dump thread's restarts (a review found a daemon
// doing setns every 300 ms with PROFAGENT_INTERVAL=1 wrote its exit dump only).
TEST_F(ProcsE2E, PeriodicDumpsGoOnThroughFrequentNamespaceChanges) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_INTERVAL", "0.3"}};
  e2e::RunResult r = e2e::run({e2e::program("namespace_change"), "every", "1.6"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  // Five periodic dumps and the exit dump fit in 1.6 s; a loaded machine may lose one or two.
  EXPECT_GE(e2e::profiles(dir_, "cpu").size(), 4u) << r.out;
}

// The restarted dump thread ticks when samples ask it to, also when the thread it replaced
// had just ticked (and told the signal handlers it would look by itself): a review found
// the new one slept through a 2 s burn, its CPU samples never drained.
TEST_F(ProcsE2E, TheDumpThreadTicksAfterANamespaceChange) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "1000"}};
  e2e::RunResult r = e2e::run({e2e::program("namespace_change"), "late", "1.5"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  std::vector<std::string> files = e2e::profiles(dir_, "cpu");
  ASSERT_EQ(files.size(), 1u);
  e2e::RawProfile p = e2e::read_raw(files[0]);
  std::regex ticks(R"( tick=\S+/(\d+))");
  int tick_count = -1;
  for (const std::string& c : p.comments) {
    std::smatch m;
    if (std::regex_search(c, m, ticks)) tick_count = std::stoi(m[1]);
  }
  // A tick every 100 ms while the 1.5 s burn sends samples.
  EXPECT_GE(tick_count, 8) << r.out;
}

// A vfork child shares its parent's memory: its unshare must leave the parent's agent state
// alone (a review found it started a dump thread in the child, and the parent then died of
// SIGTERM without its dump).
TEST_F(ProcsE2E, AVforkChildsNamespaceChangeLeavesTheParentsAgentAlone) {
  expect_dumps_when_terminated_after(dir_, "vfork", "vforked\n");
}

}  // namespace

// --- A fork child's handlers leave the parent's profile alone ------------------------------

// Median page faults a child of fork_after_big_profile took in fork() (the agent's fork
// handlers included), its parent's CPU profile holding `stacks` ("many" or "few").
long child_faults(const std::string& dir, const std::string& stacks,
                  const std::map<std::string, std::string>& more_env = {}) {
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}, {"PROFAGENT_CPU_HZ", "4000"}};
  for (const auto& [k, v] : more_env) o.env[k] = v;
  e2e::RunResult r = e2e::run({e2e::program("fork_after_big_profile"), stacks}, o);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  long faults = -1;
  EXPECT_EQ(sscanf(r.out.c_str(), "child faults %ld", &faults), 1) << r.out;
  return faults;
}

// A fork child used to free the parent's CPU aggregate (and thread names) in its fork
// handler: a copy-on-write fault per page of it in every child of a long-profiled parent
// (~20 more for ~700 stacks, ~80 us, before an exec that drops it all anyway), and a crash
// risk when the parent's dump thread was changing the map at the fork. The child now makes
// them anew in place: its faults do not grow with the parent's profile.
TEST_F(ProcsE2E, AForkChildsCostDoesNotGrowWithTheParentsProfile) {
  const long few = child_faults(dir_, "few");
  const long many = child_faults(dir_, "many");
  EXPECT_LE(many, few + 6) << "few " << few << ", many " << many;
}

// The mutex and block profiles' tables: a child wiped their index (32 KiB) and the mutex
// side's waiter table (64 KiB) in its fork handler, ~35 more page faults with both on, also
// when nothing was recorded. The kernel now hands a child their storage as zero pages, and a
// waiter table that never had a waiter is not looked at.
TEST_F(ProcsE2E, AForkChildPaysNothingForTheLockProfilesTables) {
  const long defaults = child_faults(dir_, "few");
  const long locks_on =
      child_faults(dir_, "few", {{"PROFAGENT_MUTEX_FRACTION", "1"}, {"PROFAGENT_BLOCK_RATE", "1"}});
  EXPECT_LE(locks_on, defaults + 6) << "defaults " << defaults << ", locks on " << locks_on;
}

// --- A fork child's dump thread waits until the child needs it (agent/dump_thread.h) -----

// Runs fork_child_deferred in `mode`, checks that it ran and printed `expected`, and reads
// the child's (not the parent's) profile of `kind`, if one is asked for and was written.
struct DeferredRun {
  e2e::RunResult result;
  std::optional<e2e::RawProfile> profile;
};

DeferredRun run_deferred_child(const std::string& dir, const std::string& mode,
                               const std::string& expected, const std::string& kind = "") {
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir}};
  o.timeout_seconds = 60;
  DeferredRun run;
  int out = -1;
  int parent = e2e::start({e2e::program("fork_child_deferred"), mode}, o, &out);
  run.result = e2e::wait_for(parent, o.timeout_seconds, out);
  EXPECT_EQ(run.result.exit_code(), 0) << run.result.err;
  EXPECT_EQ(run.result.out, expected) << mode;
  if (!kind.empty())
    for (const std::string& f : e2e::profiles(dir, kind))
      if (name_and_pid(f).second != parent && !run.profile) run.profile = e2e::read_raw(f);
  return run;
}

// A child that execs at once never has a dump thread (each shell command's fork paid for
// one, ~0.15 ms, and its exec tore it down again).
TEST_F(ProcsE2E, AForkChildThatExecsAtOnceStartsNoDumpThread) {
  run_deferred_child(dir_, "exec", "child threads 1\nexit code 0\n");
}

// A child waiting in pause() still has none; SIGTERM starts it (the handler interrupted a
// system call, a point where a thread may start), the child writes its threads profile,
// showing where it waited, and dies of SIGTERM.
TEST_F(ProcsE2E, AWaitingForkChildDumpsOnTerminationWithoutADumpThreadBefore) {
  DeferredRun run =
      run_deferred_child(dir_, "term", "child threads 1\nkilled by signal 15\n", "threads");
  ASSERT_TRUE(run.profile) << run.result.err;
  const int threads = run.profile->sample_index("threads");
  EXPECT_GT(run.profile->cum_containing(threads, "wait_in_child"), 0);
  EXPECT_GT(run.profile->flat_containing(threads, "pause"), 0);  // where the signal found it
  EXPECT_EQ(run.profile->cum_containing(threads, "profagent"), 0);  // not the agent's handler
}

// A child that burns CPU gets its dump thread from a CPU sample (samples to drain), and
// its CPU profile at termination holds the burn.
TEST_F(ProcsE2E, ABusyForkChildGetsItsDumpThreadFromItsSamples) {
  DeferredRun run =
      run_deferred_child(dir_, "burn", "child threads 2\nkilled by signal 15\n", "cpu");
  ASSERT_TRUE(run.profile) << run.result.err;
  const int cpu = run.profile->sample_index("cpu");
  EXPECT_GT(run.profile->flat_containing(cpu, "burn_in_child"), run.profile->total(cpu) / 2);
}

// The dump signal reaches a waiting child: it starts the thread, which writes a dump while
// the child lives on (then SIGTERM ends it as above).
TEST_F(ProcsE2E, TheDumpSignalReachesAWaitingForkChild) {
  run_deferred_child(dir_, "dump", "dumped\nchild threads 2\nkilled by signal 15\n");
}

// A child that starts a thread gets its dump thread first (main, its thread, the agent's).
TEST_F(ProcsE2E, AForkChildThatStartsAThreadGetsItsDumpThread) {
  DeferredRun run =
      run_deferred_child(dir_, "thread", "child threads 3\nkilled by signal 15\n", "threads");
  ASSERT_TRUE(run.profile) << run.result.err;
  EXPECT_EQ(run.profile->total(run.profile->sample_index("threads")), 2);  // not the agent's
}

// A SIGTERM that reaches a child with no dump thread yet, at a point where none can start (a
// qsort callback), comes back a millisecond later. Whatever the child does (start a thread,
// exec, fork a grandchild, exit) or gets (the dump signal, SIGINT) meanwhile, it still dies
// of SIGTERM; a grandchild's own _exit(0) stays an exit.
TEST_F(ProcsE2E, ATerminationWaitingForADeferredDumpThreadIsNeverLost) {
  const std::map<std::string, std::string> expected = {
      {"thread", "child killed by signal 15\n"},
      {"exec", "child killed by signal 15\n"},
      {"grandchild", "grandchild exit 0\nchild killed by signal 15\n"},
      {"exit", "child killed by signal 15\n"},
      {"term_dump", "child killed by signal 15\n"},  // the dump signal meanwhile
      {"term_int", "child killed by signal 15\n"},   // a second termination signal
  };
  for (const auto& [mode, out] : expected) {
    e2e::RunOptions o;
    o.env = {{"PROFAGENT_DIR", dir_}};
    o.timeout_seconds = 60;
    e2e::RunResult r = e2e::run({e2e::program("deferred_signal_cases"), mode}, o);
    ASSERT_EQ(r.exit_code(), 0) << mode << ": " << r.err;
    EXPECT_EQ(r.out, out) << mode;
  }
}

// A child blocked in a system call deeper than the agent's walk looks gets no retry signal
// (each would only interrupt its wait again): no EINTR, and it dies of SIGTERM at once.
TEST_F(ProcsE2E, AChildBlockedWhereNoThreadCanStartSeesNoRetrySignal) {
  e2e::RunOptions o;
  o.env = {{"PROFAGENT_DIR", dir_}};
  o.timeout_seconds = 60;
  e2e::RunResult r = e2e::run({e2e::program("deferred_signal_cases"), "deep"}, o);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_EQ(r.out, "eintr 0\nchild killed by signal 15\n");
}

// _exit or exit from a handler (without unwind information) that interrupted malloc in a
// child with no dump thread yet: neither a dump on that thread nor a thread start is safe there; the
// child ends as it asked (the dump is skipped with one warning), never hangs.
TEST_F(ProcsE2E, ExitFromAHandlerInAChildWithNoDumpThreadEndsAsAsked) {
  for (int run = 0; run < 6; ++run) {
    e2e::RunOptions o;
    o.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "0"}};
    o.timeout_seconds = 30;
    e2e::RunResult r = e2e::run(
        {e2e::program("deferred_signal_cases"), run % 2 ? "handler_exit_full" : "handler_exit"},
        o);
    ASSERT_FALSE(r.timed_out) << "run " << run;
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "child exit 7\n");
  }
}

// A shell that forks for each command, having taken CPU and heap samples: each child's fork
// handlers write one page of the agent's data (the fork gate's, where what a child resets
// lies: large_bss.h PROFAGENT_FORK_BSS), its parent's none (checked as root: it compares
// page frame numbers). Each further page was a
// copy-on-write fault in every child (three before: the gate's, the sample buffer's and the
// CPU timers' pages; the parent copied the gate's page again to release its lock).
TEST_F(ProcsE2E, AShellsForkChildCopiesOnePageOfTheAgentsData) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "1000"}};
  // A shell's unwind tables are in the cache: its dump thread waits (agent/dump_thread.h).
  ASSERT_EQ(e2e::run({e2e::program("fork_pages")}, options).exit_code(), 0);
  std::filesystem::remove_all(dir_);
  e2e::RunResult r = e2e::run({e2e::program("fork_pages")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.out << r.err;
  std::istringstream lines(r.out);
  std::string line;
  int forks = 0, fewest = 1 << 30, pid = 0, parent_fewest = 1 << 30;
  while (std::getline(lines, line)) {
    int pages = 0;
    if (sscanf(line.c_str(), "parent pages %d:", &pages) == 1) {
      if (pages >= 0) parent_fewest = std::min(parent_fewest, pages);  // (-1: no frames)
      continue;
    }
    if (sscanf(line.c_str(), "parent %d", &pid) == 1) continue;
    if (sscanf(line.c_str(), "pages %d:", &pages) != 1) continue;
    ++forks;
    fewest = std::min(fewest, pages);  // (a sample in a child could add its buffer's page)
  }
  ASSERT_EQ(forks, 3) << r.out;
  EXPECT_LE(fewest, 1) << r.out;
  // The parent's side needs page frame numbers (CAP_SYS_ADMIN; fork_pages.c).
  if (geteuid() == 0) {
    EXPECT_EQ(parent_fewest, 0) << r.out;
  }
  // What a shell has when it forks: CPU samples and heap samples in the parent.
  const std::string parent = "fork_pages." + std::to_string(pid) + ".";
  bool cpu = false, heap = false;
  for (const char* kind : {"cpu", "heap"})
    for (const std::string& f : e2e::profiles(dir_, kind)) {
      if (std::filesystem::path(f).filename().string().rfind(parent, 0) != 0) continue;
      e2e::RawProfile p = e2e::read_raw(f);
      (std::string(kind) == "cpu" ? cpu : heap) = !p.samples.empty();
    }
  EXPECT_TRUE(cpu && heap) << "the parent had no CPU or no heap samples: nothing to reset";
}

// A fork child's CPU profile covers its own life: its window begins at its fork (the time its
// fork gate's handler read), not where the parent's began, although the child's fork handler
// writes nothing of the window (it finds the parent's, copied, and reads the fork's time).
TEST_F(ProcsE2E, AForkChildsCpuProfileBeginsAtItsFork) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}};
  e2e::RunResult r = e2e::run({e2e::program("fork_late_child")}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  long long start = 0, fork_at = 0;
  int child = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "start %lld fork %lld child %d", &start, &fork_at, &child), 3)
      << r.out;
  const std::string name = "fork_late_child." + std::to_string(child) + ".";
  std::vector<std::string> files;
  for (const std::string& f : e2e::profiles(dir_, "cpu"))
    if (std::filesystem::path(f).filename().string().rfind(name, 0) == 0) files.push_back(f);
  ASSERT_EQ(files.size(), 1u) << r.err;
  e2e::RawProfile p = e2e::read_raw(files[0]);
  ASSERT_TRUE(p.has_time);
  ASSERT_NE(p.time_unix_nanos, 0);
  // The parent waited 400 ms before the fork: a window from the parent's start is that early.
  EXPECT_GE(p.time_unix_nanos, fork_at - 20 * 1000000LL)
      << "the child's window began " << (fork_at - p.time_unix_nanos) / 1000000
      << " ms before its fork";
  EXPECT_GT(p.cum_containing(p.sample_index("cpu"), "burn_in_late_child"), 0);
}
