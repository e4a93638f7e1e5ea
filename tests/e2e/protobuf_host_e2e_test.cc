// End-to-end: the agent's profile encoding cannot bind to the host's protobuf. The host
// (programs/protobuf_host.c) is linked against programs/fake_protobuf.c, which exports every
// google::protobuf symbol the agent used to import, each one aborting. Under the agent with
// every profile on, periodic dumps, the HTTP endpoint (binary, text and ?seconds= deltas)
// and push, the host must run to its end and exit 0, every profile must read in
// go tool pprof, and LD_DEBUG=bindings must show no binding from libprofagent.so to any
// protobuf. PROFAGENT_E2E_PRELOAD=<path of another libprofagent.so> runs the same test
// against that agent (an agent linked with libprotobuf aborts here).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/e2e/support/e2e_support.h"
#include "tests/e2e/support/ingest_receiver.h"

namespace {

using Clock = std::chrono::steady_clock;

std::string agent() {
  const char* other = getenv("PROFAGENT_E2E_PRELOAD");
  return other != nullptr && *other != '\0' ? other : e2e::agent_so();
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

// One GET over HTTP/1.0 (the server closes after the answer); status 0 if none in time.
HttpReply http_get(int port, const std::string& path) {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    if (fd >= 0) close(fd);
    return reply;
  }
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string all;
  char buf[65536];
  for (auto end = Clock::now() + std::chrono::seconds(20); Clock::now() < end;) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t split = all.find("\r\n\r\n");
  if (all.rfind("HTTP/1.", 0) != 0 || split == std::string::npos) return reply;
  reply.status = std::stoi(all.substr(9, 3));
  reply.body = all.substr(split + 4);
  return reply;
}

// The "profile" part of a multipart ingest request ("" if none).
std::string pushed_profile(const e2e::SeenRequest& q) {
  auto ct = q.headers.find("content-type");
  if (ct == q.headers.end() || ct->second.find("boundary=") == std::string::npos) return "";
  std::string boundary = "--" + ct->second.substr(ct->second.find("boundary=") + 9);
  size_t part = q.body.find("name=\"profile\"");
  if (part == std::string::npos) return "";
  size_t start = q.body.find("\r\n\r\n", part);
  size_t end = q.body.find("\r\n" + boundary, start);
  if (start == std::string::npos || end == std::string::npos) return "";
  return q.body.substr(start + 4, end - start - 4);
}

// Reads a child's stderr as it comes.
class Collector {
 public:
  explicit Collector(int fd) : thread_([this, fd] {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      text_.append(buf, static_cast<size_t>(n));
    }
    close(fd);
  }) {}
  ~Collector() { thread_.join(); }
  std::string text() {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 private:
  std::mutex mutex_;
  std::string text_;
  std::thread thread_;
};

TEST(ProtobufHost, AgentImportsNoProtobuf) {
  e2e::RunOptions plain;
  plain.preload = false;
  e2e::RunResult needed = e2e::run({"readelf", "-d", agent()}, plain);
  ASSERT_EQ(needed.exit_code(), 0) << needed.err;
  EXPECT_NE(needed.out.find("(NEEDED)"), std::string::npos) << needed.out;
  EXPECT_EQ(needed.out.find("protobuf"), std::string::npos) << "DT_NEEDED:\n" << needed.out;
  e2e::RunResult undefined = e2e::run({"nm", "-D", "--undefined-only", agent()}, plain);
  ASSERT_EQ(undefined.exit_code(), 0) << undefined.err;
  EXPECT_EQ(undefined.out.find("protobuf"), std::string::npos) << "imports protobuf symbols";
}

TEST(ProtobufHost, AHostWithAnAbortingProtobufRunsAndEveryProfileReads) {
  ASSERT_TRUE(e2e::have_go());
  std::string dir = e2e::make_temp_dir();
  std::string ld_debug_dir = e2e::make_temp_dir();
  e2e::IngestReceiver receiver(e2e::IngestReceiver::Mode::kOk);
  e2e::RunOptions options;
  options.env = {{"LD_PRELOAD", agent()},
                 {"PROFAGENT_DIR", dir},
                 {"PROFAGENT_CPU_HZ", "250"},
                 {"PROFAGENT_HEAP_RATE", "4096"},
                 {"PROFAGENT_MUTEX_FRACTION", "1"},
                 {"PROFAGENT_BLOCK_RATE", "1"},
                 {"PROFAGENT_THREADS", "1"},
                 {"PROFAGENT_INTERVAL", "0.5"},
                 {"PROFAGENT_HTTP", "127.0.0.1:0"},
                 {"PROFAGENT_PUSH_URL", receiver.url()},
                 {"PROFAGENT_LOG", "info"},
                 {"LD_DEBUG", "bindings"},
                 {"LD_DEBUG_OUTPUT", ld_debug_dir + "/ld"}};
  int out = -1, err = -1, in = -1;
  int pid = e2e::start_with_pipes({e2e::program("protobuf_host")}, options, &out, &err, &in);
  ASSERT_GT(pid, 0);
  auto started = Clock::now();
  // Binary answers: deltas (?seconds=), cumulative, CPU window, threads.
  struct Binary {
    const char* path;
    const char* function;  // expected somewhere in the profile
  };
  static const Binary kBinary[] = {{"/debug/pprof/heap?seconds=1", "host_alloc"},
                                   {"/debug/pprof/allocs", "host_alloc"},
                                   {"/debug/pprof/mutex?seconds=1", "host_locked"},
                                   {"/debug/pprof/block", "host_locked"},
                                   {"/debug/pprof/profile?seconds=1", "host_spin"},
                                   {"/debug/pprof/goroutine", "worker"}};
  std::vector<std::pair<const Binary*, std::string>> binaries;
  e2e::RunResult result;
  {
    Collector stderr_text(err);
    int port = 0;
    std::regex re("live profiling at http://127\\.0\\.0\\.1:(\\d+)/");
    for (auto end = Clock::now() + std::chrono::seconds(15); port == 0 && Clock::now() < end;) {
      std::smatch m;
      std::string e = stderr_text.text();
      if (std::regex_search(e, m, re)) port = std::stoi(m[1]);
      else std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_GT(port, 0) << stderr_text.text();
    // Every answer is fetched while the host runs, and read with go tool pprof after.
    if (port > 0) {
      for (const Binary& b : kBinary) {
        HttpReply r = http_get(port, b.path);
        EXPECT_EQ(r.status, 200) << b.path << "\n" << r.body;
        if (r.status == 200) binaries.emplace_back(&b, r.body);
      }
      for (const char* path : {"/debug/pprof/heap?debug=1", "/debug/pprof/mutex?seconds=1&debug=1",
                               "/debug/pprof/goroutine?debug=2"}) {
        HttpReply r = http_get(port, path);
        EXPECT_EQ(r.status, 200) << path;
        EXPECT_TRUE(r.body.find("host_") != std::string::npos ||
                    r.body.find("worker") != std::string::npos) << path << "\n" << r.body;
      }
    }
    // At least 2 s of work, then the host ends on end of file.
    std::this_thread::sleep_until(started + std::chrono::seconds(2));
    close(in);
    result = e2e::wait_for(pid, 60, out, -1);
    if (!result.exited() || result.exit_code() != 0)
      ADD_FAILURE() << "the host's stderr (its last 2000 bytes):\n"
                    << stderr_text.text().substr(
                           stderr_text.text().size() - std::min<size_t>(2000, stderr_text.text().size()));
  }
  ASSERT_TRUE(result.exited()) << "killed by signal " << result.term_signal();
  EXPECT_EQ(result.exit_code(), 0);
  EXPECT_EQ(result.out, "done\n");

  for (const auto& [b, body] : binaries) {
    SCOPED_TRACE(b->path);
    std::string file = dir + "/http." + std::to_string(std::hash<std::string>{}(b->path)) +
                       ".pb.gz.check";
    write_file(file, body);
    e2e::RawProfile p = e2e::read_raw(file);
    EXPECT_GT(p.cum_containing(0, b->function), 0) << b->function;
  }

  // Files: every kind written and read by go tool pprof (the CPU file of the last moments,
  // after the workers stopped, may be empty: the CPU is looked for over all of them).
  for (const char* kind : {"heap", "mutex", "block", "threads"}) {
    SCOPED_TRACE(kind);
    std::vector<std::string> files = e2e::profiles(dir, kind);
    ASSERT_FALSE(files.empty());
    e2e::RawProfile p = e2e::read_raw(files.back());
    EXPECT_FALSE(p.samples.empty());
  }
  int64_t spin = 0;
  std::vector<std::string> cpu_files = e2e::profiles(dir, "cpu");
  EXPECT_GE(cpu_files.size(), 3u);
  for (const std::string& f : cpu_files) {
    e2e::RawProfile cpu = e2e::read_raw(f);
    spin += cpu.cum_containing(cpu.sample_index("cpu"), "host_spin");
  }
  EXPECT_GT(spin, 0);

  // Pushes: cumulative kinds go as deltas built and encoded by the agent.
  int heap_pushes = 0, index = 0;
  for (const e2e::SeenRequest& q : receiver.requests()) {
    std::string profile = pushed_profile(q);
    ASSERT_FALSE(profile.empty());
    std::string file = dir + "/pushed." + std::to_string(index++) + ".pb.gz.check";
    write_file(file, profile);
    e2e::RawProfile p = e2e::read_raw(file);
    if (p.sample_index("alloc_space") >= 0) {
      ++heap_pushes;
      EXPECT_TRUE(p.has_duration);
    }
  }
  EXPECT_GE(heap_pushes, 2);

  // LD_DEBUG=bindings: the agent's symbols bind to libc & co., never to a protobuf.
  int agent_bindings = 0;
  for (const auto& entry : std::filesystem::directory_iterator(ld_debug_dir)) {
    for (const e2e::Binding& b : e2e::ld_debug_bindings(read_file(entry.path()))) {
      if (b.from.find("libprofagent") == std::string::npos) continue;
      ++agent_bindings;
      EXPECT_EQ(b.to.find("protobuf"), std::string::npos) << b.from << " -> " << b.to << ": "
                                                           << b.symbol;
    }
  }
  EXPECT_GT(agent_bindings, 10) << "no LD_DEBUG output to check";
}

}  // namespace
