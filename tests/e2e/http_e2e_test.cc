// End-to-end: the live /debug/pprof endpoint (PROFAGENT_HTTP) inside a running
// multi-threaded program (programs/http_busy.c): go tool pprof against its URLs, every
// path's answer, the loopback-only socket, the refused second CPU request, and abuse (idle
// connections, a huge header, a client that never reads, seconds=999999) that must not slow
// the program nor keep it from dying of SIGTERM.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/support/e2e_support.h"

namespace {

using Clock = std::chrono::steady_clock;

// http_busy under the agent, its stdout ("<ms> <work>") and stderr read as they come.
class BusyProgram {
 public:
  BusyProgram(std::map<std::string, std::string> env, int workers, int seconds) {
    e2e::RunOptions options;
    options.env = std::move(env);
    int out = -1, err = -1;
    pid_ = e2e::start_with_pipes(
        {e2e::program("http_busy"), std::to_string(workers), std::to_string(seconds)},
        options, &out, &err, nullptr);
    readers_.emplace_back([this, out] { read_all(out, &out_); });
    readers_.emplace_back([this, err] { read_all(err, &err_); });
  }
  ~BusyProgram() {
    if (!collected_) finish(SIGKILL);
  }
  // The port from the agent's "live profiling at http://127.0.0.1:PORT/" line (0: none).
  int wait_port(double seconds = 15) {
    std::regex re("live profiling at http://127\\.0\\.0\\.1:(\\d+)/");
    for (auto end = Clock::now() + std::chrono::duration<double>(seconds); Clock::now() < end;) {
      std::smatch m;
      std::string e = err();
      if (std::regex_search(e, m, re)) return std::stoi(m[1]);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }
  // Work units per ms of the program's own clock over the next `seconds`.
  double work_rate(double seconds) {
    auto first = last_line();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    auto second = last_line();
    if (second.first <= first.first) return 0;
    return (second.second - first.second) / (second.first - first.first);
  }
  // Sends `sig` (if not 0) and collects the program; returns the wait status.
  int finish(int sig, int timeout_seconds = 20) {
    if (sig != 0) kill(pid_, sig);
    int status = 0;
    for (auto end = Clock::now() + std::chrono::seconds(timeout_seconds);;) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) break;
      if (Clock::now() > end) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        timed_out_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    collected_ = true;
    for (auto& t : readers_) t.join();
    readers_.clear();
    return status;
  }
  bool timed_out() const { return timed_out_; }
  std::string err() {
    std::lock_guard<std::mutex> lock(mutex_);
    return err_;
  }
  std::string out() {
    std::lock_guard<std::mutex> lock(mutex_);
    return out_;
  }
  int pid() const { return pid_; }

 private:
  void read_all(int fd, std::string* into) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      into->append(buf, n);
    }
    close(fd);
  }
  std::pair<double, double> last_line() {
    std::string o = out();
    size_t end = o.rfind('\n');
    if (end == std::string::npos || end == 0) return {0, 0};
    size_t begin = o.rfind('\n', end - 1);
    begin = begin == std::string::npos ? 0 : begin + 1;
    double ms = 0, work = 0;
    sscanf(o.c_str() + begin, "%lf %lf", &ms, &work);
    return {ms, work};
  }
  int pid_ = -1;
  bool collected_ = false, timed_out_ = false;
  std::mutex mutex_;
  std::string out_, err_;
  std::vector<std::thread> readers_;
};

int connect_to(int port, bool nonblocking = false) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 &&
      !(nonblocking && errno == EINPROGRESS)) {
    close(fd);
    return -1;
  }
  return fd;
}

struct HttpReply {
  int status = 0;
  std::string headers, body;
};

// Sends one GET over HTTP/1.0 (the server closes after the answer); -1 if it could not.
int send_get(int port, const std::string& path) {
  int fd = connect_to(port);
  if (fd < 0) return -1;
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads the answer to send_get() and closes fd; status 0 if none in time.
HttpReply read_reply(int fd, int timeout_ms = 20000) {
  HttpReply reply;
  if (fd < 0) return reply;
  std::string all;
  char buf[65536];
  for (auto end = Clock::now() + std::chrono::milliseconds(timeout_ms); Clock::now() < end;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    all.append(buf, n);
  }
  close(fd);
  size_t split = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || split == std::string::npos) return reply;
  reply.status = std::stoi(all.substr(9, 3));
  reply.headers = all.substr(0, split);
  reply.body = all.substr(split + 4);
  return reply;
}

HttpReply http_get(int port, const std::string& path, int timeout_ms = 20000) {
  return read_reply(send_get(port, path), timeout_ms);
}

std::string url(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// The LISTEN lines of /proc/net/tcp and tcp6 for `port`: their local addresses (hex).
std::vector<std::string> listening_addresses(int port) {
  std::vector<std::string> out;
  char port_hex[8];
  snprintf(port_hex, sizeof port_hex, "%04X", port);
  for (const char* file : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(file);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state;
      fields >> slot >> local >> remote >> state;
      if (state == "0A" && local.size() > 5 && local.substr(local.size() - 4) == port_hex)
        out.push_back(local.substr(0, local.size() - 5));
    }
  }
  return out;
}

// utime + stime (clock ticks) of the agent's "profagent-http" thread in process `pid`.
int64_t server_thread_ticks(int pid) {
  std::string task = "/proc/" + std::to_string(pid) + "/task";
  std::string cmd = "grep -l '^profagent-http$' " + task + "/*/comm 2>/dev/null";
  FILE* f = popen(cmd.c_str(), "r");
  char line[256] = {};
  bool found = f != nullptr && fgets(line, sizeof line, f) != nullptr;
  if (f != nullptr) pclose(f);
  if (!found) return -1;
  std::string stat_path(line);
  stat_path = stat_path.substr(0, stat_path.rfind('/')) + "/stat";
  std::ifstream in(stat_path);
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

class HttpE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
  }
  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> e = {{"PROFAGENT_DIR", dir_},
                                            {"PROFAGENT_HTTP", "127.0.0.1:0"},
                                            {"PROFAGENT_LOG", "info"}};
    for (auto& [k, v] : extra) e[k] = v;
    return e;
  }
  std::string dir_;
};

TEST_F(HttpE2E, GoToolPprofReadsEveryPathOfALiveProgram) {
  BusyProgram prog(env(), 2, 60);
  int port = prog.wait_port();
  ASSERT_NE(port, 0) << prog.err();

  // Bound to loopback only.
  std::vector<std::string> addrs = listening_addresses(port);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0], "0100007F");  // 127.0.0.1

  HttpReply index = http_get(port, "/debug/pprof/");
  EXPECT_EQ(index.status, 200);
  for (const char* link : {"href='profile'", "href='heap?debug=1'", "href='allocs?debug=1'",
                           "href='goroutine?debug=2'", "href='mutex?debug=1'"})
    EXPECT_NE(index.body.find(link), std::string::npos) << link << "\n" << index.body;

  // Two overlapping CPU windows: one gets the profile, the other is refused at once. Both
  // are sent from here (go tool pprof's start-up time would decide which one comes first);
  // the reference reader then reads the body that was a profile. (go tool pprof reading a
  // live CPU URL itself: CpuWindowWithCpuProfilingOffAndLockProfilesWhenOn.)
  int first_fd = send_get(port, "/debug/pprof/profile?seconds=2");
  ASSERT_GE(first_fd, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  HttpReply second = http_get(port, "/debug/pprof/profile?seconds=2");
  HttpReply first = read_reply(first_fd);
  HttpReply& window = first.status == 200 ? first : second;
  HttpReply& refused = first.status == 200 ? second : first;
  EXPECT_EQ(window.status, 200) << "first " << first.status << " second " << second.status;
  EXPECT_EQ(refused.status, 500) << "first " << first.status << " second " << second.status;
  EXPECT_NE(refused.body.find("Could not enable CPU profiling: cpu profiling already in use"),
            std::string::npos) << refused.body;
  std::string window_file = e2e::make_temp_dir() + "/window.pb.gz";
  std::ofstream(window_file, std::ios::binary) << window.body;
  e2e::RawProfile p = e2e::read_raw(window_file);
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.period_type, "cpu nanoseconds");
  EXPECT_TRUE(p.has_duration);
  int64_t total = p.total(1);
  EXPECT_GT(total, 0);
  EXPECT_GT(p.flat_containing(1, "hot_spin"), total / 2);

  // Heap (inuse default) and allocs (alloc_space default), cumulative.
  e2e::RawProfile heap = e2e::parse_raw(
      e2e::pprof({"-raw", "-symbolize=none", url(port, "/debug/pprof/heap")}));
  ASSERT_EQ(heap.sample_types.size(), 4u);
  EXPECT_EQ(heap.sample_types[1], "alloc_space/bytes");
  EXPECT_EQ(heap.period_type, "space bytes");
  EXPECT_GT(heap.cum_containing(1, "alloc_site"), 0);
  e2e::RawProfile allocs = e2e::parse_raw(
      e2e::pprof({"-raw", "-symbolize=none", url(port, "/debug/pprof/allocs")}));
  ASSERT_EQ(allocs.sample_types.size(), 4u);
  EXPECT_EQ(allocs.sample_types[1], "alloc_space/bytes[dflt]");
  EXPECT_GT(allocs.cum_containing(0, "alloc_site"), 0);

  // Delta over one second: fewer allocations than since start (the program has run for
  // several seconds), a duration, inuse kept.
  e2e::RawProfile delta = e2e::parse_raw(
      e2e::pprof({"-raw", "-symbolize=none", url(port, "/debug/pprof/allocs?seconds=1")}));
  EXPECT_TRUE(delta.has_duration);
  int64_t delta_objects = delta.cum_containing(0, "alloc_site");
  EXPECT_GT(delta_objects, 0);
  e2e::RawProfile since_start = e2e::parse_raw(
      e2e::pprof({"-raw", "-symbolize=none", url(port, "/debug/pprof/allocs")}));
  EXPECT_LT(delta_objects, since_start.cum_containing(0, "alloc_site"));
  HttpReply after = http_get(port, "/debug/pprof/allocs?debug=1");
  EXPECT_EQ(after.status, 200);
  EXPECT_NE(after.body.find("allocs profile: total "), std::string::npos);
  EXPECT_NE(after.body.find("\talloc_site\t"), std::string::npos) << after.body.substr(0, 2000);

  // Mutex and block are off by default: 404 naming the variable that turns them on.
  HttpReply mutex = http_get(port, "/debug/pprof/mutex");
  EXPECT_EQ(mutex.status, 404);
  EXPECT_NE(mutex.body.find("PROFAGENT_MUTEX_FRACTION"), std::string::npos) << mutex.body;
  HttpReply block = http_get(port, "/debug/pprof/block?seconds=1");
  EXPECT_EQ(block.status, 404);
  EXPECT_NE(block.body.find("PROFAGENT_BLOCK_RATE"), std::string::npos) << block.body;

  // goroutine = threads: binary, grouped text, per-thread dump.
  e2e::RawProfile threads = e2e::parse_raw(
      e2e::pprof({"-raw", "-symbolize=none", url(port, "/debug/pprof/goroutine")}));
  ASSERT_EQ(threads.sample_types.size(), 1u);
  EXPECT_EQ(threads.total(0), 3);  // main + 2 workers; the agent's threads left out
  HttpReply grouped = http_get(port, "/debug/pprof/goroutine?debug=1");
  EXPECT_EQ(grouped.status, 200);
  EXPECT_NE(grouped.body.find("goroutine profile: total 3\n"), std::string::npos) << grouped.body;
  EXPECT_NE(grouped.body.find("\tworker\t"), std::string::npos) << grouped.body;
  HttpReply dump = http_get(port, "/debug/pprof/threads?debug=2");
  EXPECT_EQ(dump.status, 200);
  EXPECT_NE(dump.body.find("thread " + std::to_string(prog.pid()) + " [http_busy]:\n"),
            std::string::npos) << dump.body;
  EXPECT_NE(dump.body.find("[busy-0]:\n"), std::string::npos) << dump.body;
  EXPECT_NE(dump.body.find("[busy-1]:\n"), std::string::npos) << dump.body;
  EXPECT_NE(dump.body.find("main()\n"), std::string::npos) << dump.body;

  // Bounds and unknowns.
  HttpReply huge = http_get(port, "/debug/pprof/profile?seconds=999999");
  EXPECT_EQ(huge.status, 400);
  EXPECT_NE(huge.body.find("maximum of 300"), std::string::npos) << huge.body;
  EXPECT_EQ(http_get(port, "/debug/pprof/nonesuch").status, 404);
  EXPECT_EQ(http_get(port, "/elsewhere").status, 404);
  HttpReply cmdline = http_get(port, "/debug/pprof/cmdline");
  EXPECT_EQ(cmdline.status, 200);
  EXPECT_NE(cmdline.body.find("http_busy"), std::string::npos);

  int status = prog.finish(SIGTERM);
  EXPECT_FALSE(prog.timed_out());
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_EQ(prog.err().find("warning"), std::string::npos) << prog.err();
}

TEST_F(HttpE2E, CpuWindowWithCpuProfilingOffAndLockProfilesWhenOn) {
  BusyProgram prog(env({{"PROFAGENT_CPU_HZ", "0"},
                        {"PROFAGENT_MUTEX_FRACTION", "1"},
                        {"PROFAGENT_BLOCK_RATE", "1"}}),
                   2, 60);
  int port = prog.wait_port();
  ASSERT_NE(port, 0) << prog.err();
  e2e::RawProfile p = e2e::parse_raw(e2e::pprof(
      {"-raw", "-symbolize=none", url(port, "/debug/pprof/profile?seconds=1")}));
  ASSERT_EQ(p.sample_types.size(), 2u);
  EXPECT_EQ(p.period, 10000000);  // the temporary timers run at Go's 100 Hz
  EXPECT_GT(p.flat_containing(1, "hot_spin"), p.total(1) / 2);

  for (const char* kind : {"mutex", "block"}) {
    e2e::RawProfile lock = e2e::parse_raw(e2e::pprof(
        {"-raw", "-symbolize=none", url(port, std::string("/debug/pprof/") + kind)}));
    ASSERT_EQ(lock.sample_types.size(), 2u) << kind;
    EXPECT_EQ(lock.sample_types[0], "contentions/count");
    EXPECT_GT(lock.cum_containing(1, "locked_section"), 0) << kind;
    e2e::RawProfile d = e2e::parse_raw(e2e::pprof(
        {"-raw", "-symbolize=none",
         url(port, std::string("/debug/pprof/") + kind + "?seconds=1")}));
    EXPECT_TRUE(d.has_duration) << kind;
    // The one-second delta holds fewer events than everything since start, read after it
    // (which includes the events of `lock`, read before the delta). A second may see no
    // contention at all on a loaded machine, so the delta may be empty.
    e2e::RawProfile since_start = e2e::parse_raw(e2e::pprof(
        {"-raw", "-symbolize=none", url(port, std::string("/debug/pprof/") + kind)}));
    EXPECT_LT(d.cum_containing(0, "locked_section"),
              since_start.cum_containing(0, "locked_section")) << kind;
  }
  // No CPU file dump: CPU profiling stays off outside the window.
  int status = prog.finish(SIGTERM);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  EXPECT_TRUE(e2e::profiles(dir_, "cpu").empty());
  EXPECT_FALSE(e2e::profiles(dir_, "mutex").empty());
}

// Opens the abusive clients; returns their sockets (the caller closes them).
std::vector<int> abuse(int port) {
  std::vector<int> fds;
  // A client that sends a huge header (1 MiB), without ever finishing it.
  if (int fd = connect_to(port); fd >= 0) {
    std::string start = "GET /debug/pprof/heap HTTP/1.1\r\nX-Big: ";
    send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    std::string chunk(16384, 'a');
    for (int i = 0; i < 64; ++i)
      if (send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL | MSG_DONTWAIT) <= 0) break;
    fds.push_back(fd);
  }
  // Clients that ask for big answers and never read them; one asking for 999999 seconds.
  for (int i = 0; i < 4; ++i) {
    if (int fd = connect_to(port); fd >= 0) {
      int small = 1024;
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      std::string req = "GET /debug/pprof/goroutine?debug=2 HTTP/1.1\r\nHost: x\r\n\r\n";
      send(fd, req.data(), req.size(), MSG_NOSIGNAL);
      fds.push_back(fd);
    }
  }
  if (int fd = connect_to(port); fd >= 0) {
    std::string req = "GET /debug/pprof/profile?seconds=999999 HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, req.data(), req.size(), MSG_NOSIGNAL);
    fds.push_back(fd);
  }
  // Then 100 idle connections, more than the server's 32: the rest wait in the listen
  // backlog (connected without blocking, so this test does not wait for SYN retries).
  for (int i = 0; i < 100; ++i)
    if (int fd = connect_to(port, /*nonblocking=*/true); fd >= 0) fds.push_back(fd);
  return fds;
}

// The best work rate of `windows` windows of `seconds` each: a busy CI machine's other jobs
// only ever lower a window.
double best_rate(BusyProgram& prog, int windows, double seconds) {
  double best = 0;
  for (int i = 0; i < windows; ++i) best = std::max(best, prog.work_rate(seconds));
  return best;
}

TEST_F(HttpE2E, AbuseNeitherSlowsTheProgramNorKeepsItFromDying) {
  BusyProgram prog(env(), 1, 120);
  int port = prog.wait_port();
  ASSERT_NE(port, 0) << prog.err();
  // The abusers' answers are symbolized on the server thread: the one-off symbolizer load
  // (libdw, libc's DWARF) happens here, outside the measured window.
  EXPECT_EQ(http_get(port, "/debug/pprof/goroutine?debug=2").status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double before = best_rate(prog, 4, 0.75);
  ASSERT_GT(before, 0);

  auto abuse_start = Clock::now();
  std::vector<int> fds = abuse(port);
  std::printf("abusers connected in %.2f s\n",
              std::chrono::duration<double>(Clock::now() - abuse_start).count());
  int64_t server_ticks_before = server_thread_ticks(prog.pid());
  ASSERT_GE(server_ticks_before, 0) << "no profagent-http thread";
  auto during_start = Clock::now();
  double during = best_rate(prog, 4, 0.75);
  double server_cpu = (server_thread_ticks(prog.pid()) - server_ticks_before) /
                      static_cast<double>(sysconf(_SC_CLK_TCK)) /
                      std::chrono::duration<double>(Clock::now() - during_start).count();
  std::printf("server thread CPU while abused: %.1f%% of one core\n", server_cpu * 100);
  EXPECT_LT(server_cpu, 0.05);
  // The abuse is bracketed: a slowdown it causes lowers "during" below both "before" and
  // "after"; another job's load burst rarely spans both outer measures.
  for (int fd : fds) close(fd);
  double after = best_rate(prog, 4, 0.75);
  double ratio = during / std::min(before, after);
  std::printf("work rate before %.1f/ms, while abused %.1f/ms, after %.1f/ms, ratio %.3f\n",
              before, during, after, ratio);
  EXPECT_GT(ratio, 0.93) << "before " << before << " during " << during << " after " << after;

  // SIGTERM with a fresh set of abusers open: the program dies of it (after its dump). No
  // bound on how long that takes beyond finish()'s 15 s: the exit dump's cost is not what
  // this checks, and an absolute time depends on the machine.
  fds = abuse(port);
  auto t0 = Clock::now();
  int status = prog.finish(SIGTERM, 15);
  double took = std::chrono::duration<double>(Clock::now() - t0).count();
  for (int fd : fds) close(fd);
  EXPECT_FALSE(prog.timed_out());
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << status;
  std::printf("died of SIGTERM %.2f s after it was sent\n", took);
  EXPECT_FALSE(e2e::profiles(dir_, "cpu").empty());
}

TEST_F(HttpE2E, SecondProcessOnATakenPortWarnsOnceAndRunsOn) {
  int holder = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t len = sizeof a;
  getsockname(holder, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);

  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_},
                 {"PROFAGENT_HTTP", "127.0.0.1:" + std::to_string(port)}};
  e2e::RunResult r = e2e::run({e2e::program("http_busy"), "1", "1"}, options);
  close(holder);
  EXPECT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find("done\n"), std::string::npos);
  std::regex warning("profagent: warning: PROFAGENT_HTTP: cannot listen on 127\\.0\\.0\\.1:" +
                     std::to_string(port) + " \\(Address already in use\\)");
  auto begin = std::sregex_iterator(r.err.begin(), r.err.end(), warning);
  EXPECT_EQ(std::distance(begin, std::sregex_iterator()), 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(e2e::profiles(dir_, "cpu").empty());
}

// A daemon's start closes every descriptor it did not open (3..1023), then reopens its log:
// the endpoint's listening socket and epoll descriptor live in the server thread's own file
// table, so the program can neither close them nor find them on its numbers, and the
// endpoint answers on (it used to stop, saying the program had closed its descriptors).
TEST_F(HttpE2E, EndpointOutlivesAProgramThatClosesEveryDescriptor) {
  std::string log = dir_ + "/daemon.log";
  e2e::RunOptions options;
  options.env = env({{"PROFAGENT_THREADS", "0"}});
  int out_fd = -1, err_fd = -1;
  int pid = e2e::start_with_pipes({e2e::program("close_all_daemon"), log, "500"}, options,
                                  &out_fd, &err_fd, nullptr);
  ASSERT_GT(pid, 0);
  std::mutex mutex;
  std::string out, err;
  auto reader = [&](int fd, std::string* into) {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard<std::mutex> lock(mutex);
      into->append(buf, static_cast<size_t>(n));
    }
    close(fd);
  };
  std::thread out_reader(reader, out_fd, &out), err_reader(reader, err_fd, &err);
  // The first group of `re` once it matches what the program wrote to `stream` ("" if it
  // did not within 15 s).
  auto wait_for = [&](const std::string* stream, const std::regex& re) -> std::string {
    for (auto end = Clock::now() + std::chrono::seconds(15); Clock::now() < end;) {
      std::string text;
      {
        std::lock_guard<std::mutex> lock(mutex);
        text = *stream;
      }
      std::smatch m;
      if (std::regex_search(text, m, re)) return m[1];
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "";
  };
  std::string port_text =
      wait_for(&err, std::regex("live profiling at http://127\\.0\\.0\\.1:(\\d+)/"));
  int port = port_text.empty() ? 0 : std::stoi(port_text);
  bool after_close_all = !wait_for(&out, std::regex("(ready)\n")).empty();
  HttpReply index = http_get(port, "/debug/pprof/", 10000);
  HttpReply heap = http_get(port, "/debug/pprof/heap?debug=1", 10000);
  int status = 0;
  waitpid(pid, &status, 0);
  out_reader.join();
  err_reader.join();
  ASSERT_NE(port, 0) << err;
  ASSERT_TRUE(after_close_all) << out;
  EXPECT_EQ(index.status, 200) << err;
  EXPECT_EQ(heap.status, 200) << err;
  EXPECT_NE(heap.body.find("heap profile"), std::string::npos) << heap.body;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << err;
  std::ifstream in(log);
  std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(written, "daemon started\ndaemon stopping\n");
  EXPECT_EQ(err.find("the live endpoint stopped"), std::string::npos) << err;
  std::smatch idle;
  ASSERT_TRUE(std::regex_search(out, idle, std::regex(R"(idle_cpu_us (\d+))"))) << out;
  EXPECT_LT(std::stoll(idle[1]), 50000) << out;
}

// The server thread's descriptors are in a table of its own, so a fork child, which has
// none of them, must close nothing: an epoll or eventfd descriptor of the program's under
// the same number passed the "still ours" check (one anonymous inode for them all) and was
// closed in every fork child (a review found it).
TEST_F(HttpE2E, AForkChildKeepsItsEpollAndEventDescriptors) {
  e2e::RunOptions options;
  options.env = env();
  e2e::RunResult r = e2e::run({e2e::program("fork_keeps_event_fds")}, options);
  EXPECT_EQ(r.exit_code(), 0) << r.out << r.err;
  EXPECT_EQ(r.out, "child: all intact\n");
  EXPECT_NE(r.err.find("live profiling at"), std::string::npos) << "the server was up: " << r.err;
}

}  // namespace
