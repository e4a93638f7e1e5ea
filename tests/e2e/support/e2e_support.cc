// End-to-end test support: spawning programs under the agent, collecting their output with
// a timeout, listing profiles and running `go tool pprof`.
#include "tests/e2e/support/e2e_support.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

extern char** environ;

namespace e2e {
namespace {

std::vector<std::string> g_temp_dirs;
std::mutex g_temp_mutex;

void remove_temp_dirs() {
  if (getenv("E2E_KEEP_TEMP") != nullptr) return;
  for (const std::string& d : g_temp_dirs) {
    std::error_code ec;
    std::filesystem::remove_all(d, ec);
  }
}

// This binary's symbol cache: how much a dump costs (the one-off libdw and DWARF load) then
// depends only on this binary's own tests, not on $HOME/.cache/profagent and earlier runs.
const std::string& private_symbol_cache() {
  static const std::string dir = make_temp_dir();
  return dir;
}

std::vector<std::string> build_env(const RunOptions& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string key = kv.substr(0, eq);
    // Start every run clean of the agent's variables: the test says what it wants.
    if (key.rfind("PROFAGENT_", 0) == 0 || key == "LD_PRELOAD") continue;
    if (!options.inherit_environment && key != "PATH" && key != "HOME") continue;
    env[key] = kv.substr(eq + 1);
  }
  if (options.preload) env["LD_PRELOAD"] = agent_so();
  if (options.private_symbol_cache) env["PROFAGENT_SYMBOL_CACHE"] = private_symbol_cache();
  // Every server the tests talk to is on the loopback: never through a proxy of the CI's.
  env["no_proxy"] = env["NO_PROXY"] = "127.0.0.1,localhost,::1";
  for (const auto& [k, v] : options.env) env[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

void drain(int fd, std::string* out) {
  char buf[65536];
  ssize_t n = read(fd, buf, sizeof buf);
  if (n > 0) out->append(buf, static_cast<size_t>(n));
}

}  // namespace

bool RunResult::exited() const { return !timed_out && WIFEXITED(wait_status); }
int RunResult::exit_code() const { return exited() ? WEXITSTATUS(wait_status) : -1; }
int RunResult::term_signal() const {
  return !timed_out && WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
}

int start(const std::vector<std::string>& argv, const RunOptions& options, int* stdout_fd) {
  return start_with_pipes(argv, options, stdout_fd, nullptr, nullptr);
}

int start_with_pipes(const std::vector<std::string>& argv, const RunOptions& options,
                     int* stdout_fd, int* stderr_fd, int* stdin_fd) {
  std::vector<std::string> env = build_env(options);
  std::vector<char*> envp, args;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0 ||
      pipe2(in_pipe, O_CLOEXEC) != 0)
    return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    if (!options.cwd.empty() && chdir(options.cwd.c_str()) != 0) _exit(126);
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!options.stdin_data.empty()) {
    // Small inputs only (fits the pipe buffer); larger ones use files. A program that is gone
    // already (it could not be executed) must fail its test, not kill this binary with
    // SIGPIPE: block it around the write and discard it if it was raised.
    sigset_t pipe_set, old_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    ssize_t written = write(in_pipe[1], options.stdin_data.data(), options.stdin_data.size());
    if (written < 0 && errno == EPIPE) {
      timespec no_wait = {0, 0};
      sigtimedwait(&pipe_set, nullptr, &no_wait);
    }
    pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  }
  if (stdin_fd != nullptr) *stdin_fd = in_pipe[1]; else close(in_pipe[1]);
  if (stdout_fd != nullptr) *stdout_fd = out_pipe[0]; else close(out_pipe[0]);
  if (stderr_fd != nullptr) *stderr_fd = err_pipe[0]; else close(err_pipe[0]);
  return pid;
}

RunResult wait_for(int pid, int timeout_seconds, int stdout_fd, int stderr_fd) {
  RunResult result;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  bool out_open = stdout_fd >= 0, err_open = stderr_fd >= 0;
  while (true) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result.wait_status = status;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.wait_status = status;
      result.timed_out = true;
      break;
    }
    pollfd fds[2];
    int n = 0;
    if (out_open) fds[n++] = {stdout_fd, POLLIN, 0};
    if (err_open) fds[n++] = {stderr_fd, POLLIN, 0};
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (poll(fds, n, 20) > 0) {
      for (int i = 0; i < n; ++i) {
        if (fds[i].revents == 0) continue;
        std::string* target = fds[i].fd == stdout_fd ? &result.out : &result.err;
        size_t before = target->size();
        drain(fds[i].fd, target);
        if (target->size() == before && (fds[i].revents & (POLLHUP | POLLERR))) {
          if (fds[i].fd == stdout_fd) out_open = false; else err_open = false;
        }
      }
    }
  }
  // Whatever is left in the pipes after exit.
  if (stdout_fd >= 0) {
    fcntl(stdout_fd, F_SETFL, O_NONBLOCK);
    for (size_t before = ~size_t{0}; before != result.out.size();) {
      before = result.out.size();
      drain(stdout_fd, &result.out);
    }
    close(stdout_fd);
  }
  if (stderr_fd >= 0) {
    fcntl(stderr_fd, F_SETFL, O_NONBLOCK);
    for (size_t before = ~size_t{0}; before != result.err.size();) {
      before = result.err.size();
      drain(stderr_fd, &result.err);
    }
    close(stderr_fd);
  }
  return result;
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& options) {
  int out_fd = -1, err_fd = -1;
  int pid = start_with_pipes(argv, options, &out_fd, &err_fd, nullptr);
  if (pid < 0) {
    ADD_FAILURE() << "cannot start " << argv[0];
    return {};
  }
  return wait_for(pid, options.timeout_seconds, out_fd, err_fd);
}

std::string agent_so() { return PROFAGENT_SO; }

std::string program(const std::string& name) { return std::string(E2E_PROGRAMS_DIR) + "/" + name; }

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "profagent-e2e-XXXXXX").string();
  char* d = mkdtemp(tmpl.data());
  if (d == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return "/tmp";
  }
  std::lock_guard<std::mutex> lock(g_temp_mutex);
  if (g_temp_dirs.empty()) atexit(remove_temp_dirs);
  g_temp_dirs.push_back(d);
  return d;
}

std::vector<std::string> all_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    out.push_back(entry.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> profiles(const std::string& dir, const std::string& kind) {
  static const std::regex name_re(R"(^(.+)\.(\d+)\.(\d+)\.([a-z]+)\.pb\.gz$)");
  struct Entry {
    long pid;
    long seq;
    std::string path;
  };
  std::vector<Entry> found;
  for (const std::string& name : all_files(dir)) {
    std::smatch m;
    if (std::regex_match(name, m, name_re) && m[4] == kind)
      found.push_back({std::stol(m[2]), std::stol(m[3]), dir + "/" + name});
  }
  std::sort(found.begin(), found.end(), [](const Entry& a, const Entry& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.seq < b.seq;
  });
  std::vector<std::string> out;
  for (const Entry& e : found) out.push_back(e.path);
  return out;
}

bool have_go() { return system("command -v go >/dev/null 2>&1") == 0; }

std::vector<Binding> ld_debug_bindings(const std::string& text) {
  static const std::regex binding(
      R"(binding file (\S+) \[\d+\] to (\S+) \[\d+\]: \w+ symbol `([^']+)')");
  std::vector<Binding> found;
  for (std::sregex_iterator it(text.begin(), text.end(), binding), end; it != end; ++it)
    found.push_back({(*it)[1].str(), (*it)[2].str(), (*it)[3].str()});
  return found;
}

std::string pprof(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"go", "tool", "pprof"};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions options;
  options.preload = false;
  // pprof must not try to fetch or find binaries: what the agent wrote is what counts.
  options.env["PPROF_BINARY_PATH"] = "/nonexistent";
  options.env["PPROF_TMPDIR"] = make_temp_dir();
  if (getenv("HOME") == nullptr) options.env["HOME"] = "/tmp";
  // Per user: a cache directory another user created would make every `go tool pprof` fail.
  if (getenv("GOCACHE") == nullptr)
    options.env["GOCACHE"] = "/tmp/profagent-gocache-" + std::to_string(getuid());
  RunResult r = run(argv, options);
  if (!r.exited() || r.exit_code() != 0) {
    std::string joined;
    for (const std::string& a : args) joined += " " + a;
    ADD_FAILURE() << "go tool pprof" << joined << " failed (status " << r.wait_status
                  << "): " << r.err;
  }
  return r.out;
}

RawProfile read_raw(const std::string& file) {
  return parse_raw(pprof({"-raw", "-symbolize=none", file}));
}

}  // namespace e2e
