// End-to-end test support: run a real program under LD_PRELOAD=libprofagent.so, find the
// profiles it wrote, and read them with the reference reader, `go tool pprof`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/e2e/support/pprof_raw.h"

namespace e2e {

struct RunOptions {
  std::map<std::string, std::string> env;  // added to (or replacing in) the test's environment
  bool preload = true;                     // set LD_PRELOAD to the agent
  int timeout_seconds = 120;               // SIGKILL after this; RunResult::timed_out
  std::string stdin_data;                  // written to the program's stdin, then closed
  std::string cwd;                         // "" = the test's working directory
  // Unless env sets PROFAGENT_SYMBOL_CACHE, point it at a temporary directory of this test
  // binary's own (shared by its tests, never by other binaries or earlier runs). false: leave
  // it unset, for tests of the agent's per-user default.
  bool private_symbol_cache = true;
  // false: pass on only PATH and HOME of the test's environment (plus env), for tests that
  // compare a program's environment with what it was given.
  bool inherit_environment = true;
};

struct RunResult {
  int wait_status = 0;  // as from waitpid
  bool timed_out = false;
  std::string out;
  std::string err;
  bool exited() const;
  int exit_code() const;    // -1 if it did not exit
  int term_signal() const;  // 0 if not killed by a signal
};

// Runs argv[0] (a path, or a name looked up in PATH) and waits for it.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

// Starts a program without waiting; returns its pid. wait_for() collects it.
int start(const std::vector<std::string>& argv, const RunOptions& options,
          int* stdout_fd = nullptr);
// As start(), also handing back the program's stderr and stdin pipe ends (nullptr: closed).
int start_with_pipes(const std::vector<std::string>& argv, const RunOptions& options,
                     int* stdout_fd, int* stderr_fd, int* stdin_fd);
// Waits (killing it after timeout_seconds), draining and closing the given pipe ends.
RunResult wait_for(int pid, int timeout_seconds, int stdout_fd = -1, int stderr_fd = -1);

std::string agent_so();                         // path of the built libprofagent.so
std::string program(const std::string& name);   // path of a built e2e test program
std::string make_temp_dir();                    // fresh directory, removed at process exit

// Profiles of one kind in `dir`, sorted by (pid, seq): "<exe>.<pid>.<seq>.<kind>.pb.gz".
std::vector<std::string> profiles(const std::string& dir, const std::string& kind);
// Every file in dir (to check that nothing partial or temporary was left).
std::vector<std::string> all_files(const std::string& dir);

// Runs `go tool pprof <args...>`; returns stdout. Fails the current test on non-zero exit.
std::string pprof(const std::vector<std::string>& args);
// `go tool pprof -raw -symbolize=none <file>` parsed (only the agent's own symbols count).
RawProfile read_raw(const std::string& file);

// True if `go` is on PATH.
bool have_go();

// One `LD_DEBUG=bindings` line: `from` binds `symbol` to the object `to`.
struct Binding {
  std::string from, to, symbol;
};
// Every binding in LD_DEBUG output, matched one by one in the whole text, not per line: two
// threads' LD_DEBUG lines can be interleaved on one line.
std::vector<Binding> ld_debug_bindings(const std::string& text);

}  // namespace e2e
