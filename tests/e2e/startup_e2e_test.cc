// End-to-end: what a process pays and maps for the agent at start and at its dumps. libdw and
// libelf are not mapped before the first symbolization, then only privately (no host symbol
// binds to them); libdebuginfod (and libcurl with it) never; a dump leaves no descriptor
// open and children inherit none; node runs and exits cleanly; a second process answers
// from the persistent symbol cache without loading the symbolizer at all, and one with a new
// libc address reads libc's decompressed DWARF copy instead of inflating its debug info.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include "tests/e2e/support/e2e_support.h"

namespace {

// A Python host that reports what its process maps and holds before and after its first
// (periodic) dump, taken while its main thread sleeps, and which descriptors a system()
// child inherits.
const char* kProbe = R"PY(
import os, signal, sys, threading, time
# A second thread still there at exit: the exit dump writes a threads profile (that of a
# process whose only thread is the one calling exit is left out).
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
def mapped(name):
    with open('/proc/self/maps') as f:
        return int(any(name in line for line in f))
def fds():
    return len(os.listdir('/proc/self/fd'))
def child_fds():
    r, w = os.pipe()
    os.set_inheritable(w, True)
    # The listing child runs without the agent: only what it inherited is there.
    os.system('env -u LD_PRELOAD ls /proc/self/fd | wc -l >&%d' % w)
    os.close(w)
    n = os.read(r, 100).decode().strip()
    os.close(r)
    return n
print('before libdw=%d libelf=%d fds=%d child_fds=%s' % (mapped('libdw'), mapped('libelf'), fds(), child_fds()), flush=True)
time.sleep(4)  # the first periodic dump (PROFAGENT_INTERVAL=3) finds the thread here
if 'LD_PRELOAD' in os.environ:
    # Wait for that dump's file under its final name (not the temporary .<name>.tmp.*), then
    # a little more for the dump to finish; the next dump is at 6 s, after this probe ended,
    # so the second threads file is the exit dump.
    d = os.environ['PROFAGENT_DIR']
    for _ in range(200):
        if any(n.endswith('.1.threads.pb.gz') and not n.startswith('.') for n in os.listdir(d)): break
        time.sleep(0.05)
    time.sleep(0.3)
print('after libdw=%d libelf=%d debuginfod=%d curl=%d stdcxx=%d fds=%d child_fds=%s' % (mapped('libdw'), mapped('libelf'), mapped('libdebuginfod'), mapped('libcurl'), mapped('libstdc++'), fds(), child_fds()), flush=True)
)PY";

struct ProbeReport {
  std::map<std::string, std::string> before, after;
};

std::map<std::string, std::string> fields(const std::string& out, const std::string& tag) {
  std::map<std::string, std::string> f;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(tag + " ")) continue;
    std::istringstream words(line.substr(tag.size() + 1));
    std::string w;
    while (words >> w) {
      size_t eq = w.find('=');
      if (eq != std::string::npos) f[w.substr(0, eq)] = w.substr(eq + 1);
    }
  }
  return f;
}

class StartupE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!e2e::have_go()) GTEST_FAIL() << "go tool pprof (golang-go) is required";
    dir_ = e2e::make_temp_dir();
    cache_ = e2e::make_temp_dir() + "/symbols";
  }
  // Runs the probe with only the threads profile (deterministic stacks), libdebuginfod
  // tempted with DEBUGINFOD_URLS.
  ProbeReport run_probe(const std::string& cache, bool preload = true,
                        const std::string& probe = kProbe) {
    e2e::RunOptions options;
    options.preload = preload;
    options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "0"},
                   {"PROFAGENT_HEAP_RATE", "0"}, {"PROFAGENT_SYMBOL_CACHE", cache},
                   {"PROFAGENT_INTERVAL", "3"},
                   {"DEBUGINFOD_URLS", "http://127.0.0.1:9/"}};
    e2e::RunResult r = e2e::run({"/usr/bin/python3", "-c", probe}, options);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    return {fields(r.out, "before"), fields(r.out, "after")};
  }
  // The symbolizer line of the comments of this process's second threads profile (its exit
  // dump), which accounts the first dump's work.
  std::string symbolizer_line_of_exit_dump() {
    std::vector<std::string> files = e2e::profiles(dir_, "threads");
    std::string line;
    for (const std::string& f : files) {
      if (f.find(".2.threads.") == std::string::npos) continue;
      for (const std::string& c : e2e::read_raw(f).comments)
        if (c.starts_with("profagent symbolizer:")) line = c;
    }
    return line;
  }
  // `go tool pprof -traces` of the Python process's threads profiles (not those of its
  // system() children).
  std::string first_python_traces() {
    std::string traces;
    for (const std::string& f : e2e::profiles(dir_, "threads")) {
      if (std::filesystem::path(f).filename().string().starts_with("python"))
        traces += e2e::pprof({"-traces", f});
    }
    return traces;
  }
  // deferred_start in `mode` with unwind cache `cache`: its "threads N" line; then SIGTERM,
  // and how it ended.
  struct DeferredStartRun {
    int pid = 0;
    std::string threads;
    e2e::RunResult result;
  };
  // `after_signal`: written to its stdin once SIGTERM is sent. `send_sigterm` false: it ends
  // by itself.
  DeferredStartRun run_deferred_start(const std::string& mode, const std::string& cache,
                                      const std::string& after_signal = "",
                                      const std::map<std::string, std::string>& env = {},
                                      bool send_sigterm = true) {
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache}};
    options.env.insert(env.begin(), env.end());
    int out = -1, err = -1, in = -1;
    DeferredStartRun run;
    run.pid = e2e::start_with_pipes({e2e::program("deferred_start"), mode}, options, &out,
                                    &err, &in);
    char c;
    while (read(out, &c, 1) == 1 && c != '\n') run.threads += c;
    if (send_sigterm) kill(run.pid, SIGTERM);
    if (!after_signal.empty()) (void)!write(in, after_signal.data(), after_signal.size());
    run.result = e2e::wait_for(run.pid, 60, out, err);
    close(in);
    return run;
  }
  // The profile of `kind` process `pid` wrote, if any.
  std::optional<e2e::RawProfile> profile_of(int pid, const std::string& kind) {
    for (const std::string& f : e2e::profiles(dir_, kind))
      if (f.find("." + std::to_string(pid) + ".") != std::string::npos) return e2e::read_raw(f);
    return std::nullopt;
  }
  std::string dir_, cache_;
};

TEST_F(StartupE2E, SymbolizerIsMappedOnlyAtTheFirstDumpAndKeepsNoDescriptor) {
  ProbeReport without = run_probe("off", /*preload=*/false);
  ProbeReport with = run_probe("off");
  EXPECT_EQ(with.before["libdw"], "0") << "libdw mapped at start";
  EXPECT_EQ(with.before["libelf"], "0") << "libelf mapped at start";
  EXPECT_EQ(with.after["libdw"], "1") << "the dump did not symbolize with libdw";
  EXPECT_EQ(with.after["debuginfod"], "0");
  EXPECT_EQ(with.after["curl"], "0");
  // The backend carries its own C++ runtime (linked in, hidden): loading it maps no
  // libstdc++ (nor libgcc_s, libm) into a C host, ~2.5 ms of every first symbolization.
  EXPECT_EQ(without.after["stdcxx"], "0");
  EXPECT_EQ(with.after["stdcxx"], "0");
  EXPECT_EQ(with.after["fds"], with.before["fds"]) << "the dump left descriptors open";
  // system() children see exactly the descriptors they see without the agent.
  EXPECT_EQ(with.before["child_fds"], without.before["child_fds"]);
  EXPECT_EQ(with.after["child_fds"], without.after["child_fds"]);
  // The dump's stacks are symbolized (libc's names).
  EXPECT_NE(first_python_traces().find("nanosleep"), std::string::npos);
}

TEST_F(StartupE2E, NoHostSymbolBindsToLibdwOrLibelf) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "0"}, {"PROFAGENT_HEAP_RATE", "0"},
                 {"PROFAGENT_SYMBOL_CACHE", "off"}, {"PROFAGENT_INTERVAL", "3"},
                 {"LD_DEBUG", "bindings"}};
  e2e::RunResult r = e2e::run({"/usr/bin/python3", "-c", kProbe}, options);
  ASSERT_EQ(r.exit_code(), 0);
  int to_elfutils = 0;
  for (const e2e::Binding& b : e2e::ld_debug_bindings(r.err)) {
    bool to_libdw = b.to.find("libdw") != std::string::npos;
    if (!to_libdw && b.to.find("libelf") == std::string::npos) continue;
    ++to_elfutils;
    bool ours = b.from.find("libprofagent-symbolize.so") != std::string::npos ||
                b.from.find("libdw") != std::string::npos ||
                b.from.find("libelf") != std::string::npos;
    EXPECT_TRUE(ours) << b.from << " -> " << b.to << ": " << b.symbol;
  }
  EXPECT_GT(to_elfutils, 0) << "the dump did not use libdw at all";
}

TEST_F(StartupE2E, SecondProcessAnswersFromTheSymbolCacheWithoutLoadingTheSymbolizer) {
  ProbeReport first = run_probe(cache_);
  EXPECT_EQ(first.after["libdw"], "1");
  std::string first_line = symbolizer_line_of_exit_dump();
  EXPECT_NE(first_line.find("backend=loaded"), std::string::npos) << first_line;
  EXPECT_NE(first_line.find("cache_files_written="), std::string::npos) << first_line;
  EXPECT_EQ(first_line.find("cache_files_written=0 "), std::string::npos) << first_line;

  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  ProbeReport second = run_probe(cache_);
  EXPECT_EQ(second.after["libdw"], "0") << "the second process loaded libdw anyway";
  std::string second_line = symbolizer_line_of_exit_dump();
  EXPECT_NE(second_line.find("backend=not_loaded"), std::string::npos) << second_line;
  EXPECT_NE(second_line.find("cache_misses=0 "), std::string::npos) << second_line;
  EXPECT_EQ(second_line.find("cache_hits=0 "), std::string::npos) << second_line;
  // And the names are the same as the first process found.
  EXPECT_NE(first_python_traces().find("nanosleep"), std::string::npos);
}

TEST_F(StartupE2E, NodeRunsAndExitsCleanly) {
  // Without DEBUGINFOD_URLS libdw's standard search used to load libdebuginfod, whose
  // OpenSSL calls bound to node's own (torn down at exit): exit 139.
  unsetenv("DEBUGINFOD_URLS");
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", "off"}};
  for (int run = 0; run < 2; ++run) {
    e2e::RunResult r = e2e::run(
        {"node", "-e", "let s = 0; for (let i = 0; i < 3e7; i++) s += i % 7; console.log(s)"},
        options);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.out, "89999995\n");
  }
  EXPECT_EQ(e2e::profiles(dir_, "cpu").size(), 2u);
}

// A daemon without a home, or a cache directory that cannot be written: no cache, no word
// about it, profiles as usual. A relative path: one warning naming the variable.
TEST_F(StartupE2E, SymbolCacheThatCannotBeUsedIsSilentAndABadValueWarnsOnce) {
  for (const std::string& cache : {std::string(), std::string("/proc/self/no-cache-here")}) {
    e2e::RunOptions options;
    // Every allocation sampled: ls has a heap profile to write at exit.
    options.env = {{"PROFAGENT_DIR", dir_}, {"HOME", ""}, {"XDG_CACHE_HOME", ""},
                   {"PROFAGENT_HEAP_RATE", "1"}};
    options.private_symbol_cache = false;  // the default: no home, no cache
    if (!cache.empty()) options.env["PROFAGENT_SYMBOL_CACHE"] = cache;
    e2e::RunResult r = e2e::run({"/bin/ls", "/"}, options);
    EXPECT_EQ(r.exit_code(), 0);
    EXPECT_EQ(r.err, "") << cache;
  }
  EXPECT_EQ(e2e::profiles(dir_, "heap").size(), 2u);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", "relative/dir"}};
  e2e::RunResult r = e2e::run({"/bin/true"}, options);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_EQ(r.err,
            "profagent: warning: PROFAGENT_SYMBOL_CACHE='relative/dir' is not an absolute "
            "directory path or off; using the default cache directory\n");
}

// What the agent's start leaves to its dump thread (the unwind tables, built or mapped from
// the symbol cache; the output directory) waits 2 ms: a shell's `true` ends first and never
// pays for it, so it makes neither directory. Up to 20 runs: a loaded machine may hold a
// `true` back past 2 ms (then the work is done, as it should be), not all of them.
TEST_F(StartupE2E, AProcessEndingAtOnceLeavesTheDeferredStartWorkUndone) {
  int untouched = 0;
  for (int i = 0; i < 20 && untouched == 0; ++i) {
    std::string out = dir_ + "/out" + std::to_string(i);
    std::string cache = dir_ + "/cache" + std::to_string(i);
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", out}, {"PROFAGENT_SYMBOL_CACHE", cache}};
    e2e::RunResult r = e2e::run({"/bin/true"}, options);
    ASSERT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    if (!std::filesystem::exists(out) && !std::filesystem::exists(cache)) ++untouched;
  }
  EXPECT_EQ(untouched, 1) << "every `true` made the output directory or the table cache";
  // A process that lives on does that work: both exist, though it writes no profile (no
  // CPU samples nor sampled allocations: on a loaded machine `sleep`'s start can take a CPU
  // sample, and one of its few KiB of allocations can be sampled).
  std::string out = dir_ + "/lives", cache = dir_ + "/lives-cache";
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", out}, {"PROFAGENT_SYMBOL_CACHE", cache},
                 {"PROFAGENT_CPU_HZ", "0"}, {"PROFAGENT_HEAP_RATE", "0"}};
  ASSERT_EQ(e2e::run({"/bin/sleep", "0.2"}, options).exit_code(), 0);
  EXPECT_TRUE(std::filesystem::is_directory(out));
  EXPECT_TRUE(std::filesystem::is_directory(cache));
  EXPECT_TRUE(std::filesystem::is_empty(out));
}

// A process with no periodic work configured whose unwind tables are all in the cache (any
// run of a program after its first) starts no dump thread until it needs one: a shell's
// `true` or a compiler mostly ends first, and each paid ~0.25 ms for the thread. The first
// run, and one without the cache, start it at once (the tables are built off the program's
// path). A waiting one killed by SIGTERM still writes its threads profile (the handler
// interrupted pause(), where a thread may start: it shows where the process waited) and dies
// of SIGTERM.
TEST_F(StartupE2E, AProcessWithItsTablesCachedStartsItsDumpThreadOnlyWhenItNeedsOne) {
  DeferredStartRun first = run_deferred_start("idle", cache_);  // builds and stores tables
  EXPECT_EQ(first.threads, "threads 2");
  DeferredStartRun again = run_deferred_start("idle", cache_);
  EXPECT_EQ(again.threads, "threads 1");
  EXPECT_EQ(again.result.term_signal(), SIGTERM) << again.result.err;
  EXPECT_EQ(again.result.err, "");
  std::optional<e2e::RawProfile> threads = profile_of(again.pid, "threads");
  ASSERT_TRUE(threads) << again.result.err;
  const int count = threads->sample_index("threads");
  EXPECT_GT(threads->cum_containing(count, "wait_in_process"), 0);
  EXPECT_GT(threads->flat_containing(count, "pause"), 0);
  EXPECT_EQ(threads->cum_containing(count, "profagent"), 0);  // not the agent's handler
  EXPECT_EQ(run_deferred_start("idle", "off").threads, "threads 2");
}

// A process that ends within its dump thread's 2 ms start grace (a shell's `true`,
// `basename`) never had the thread build its tables, so no run of it stored them and every
// run started a dump thread. Its exit now builds and stores the missing ones when they are
// few (here the program's own; libc's, ld.so's and the agent's come from a process that
// lived past the grace, as the shell's own do in a script): its next run defers the thread.
TEST_F(StartupE2E, AProcessEndingAtOnceStoresItsFewMissingTablesSoItsNextRunDefers) {
  // Up to 10 fresh caches: a loaded machine may hold the process past the grace, and then its
  // dump thread builds the tables (as it should), not its exit, which says when it did.
  bool built_at_exit = false;
  for (int i = 0; i < 10 && !built_at_exit; ++i) {
    const std::string cache = dir_ + "/tables" + std::to_string(i);
    e2e::RunOptions warm;
    warm.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache}};
    ASSERT_EQ(e2e::run({"/bin/sleep", "0.1"}, warm).exit_code(), 0);
    DeferredStartRun first =
        run_deferred_start("quick", cache, "", {{"PROFAGENT_LOG", "debug"}}, false);
    EXPECT_EQ(first.threads, "threads 2");  // its table was missing
    EXPECT_EQ(first.result.exit_code(), 0) << first.result.err;
    built_at_exit =
        first.result.err.find("built the unwind tables the start left") != std::string::npos;
    DeferredStartRun next = run_deferred_start("quick", cache, "", {}, false);
    EXPECT_EQ(next.threads, "threads 1");
    EXPECT_EQ(next.result.exit_code(), 0) << next.result.err;
    EXPECT_EQ(next.result.err, "");
  }
  EXPECT_TRUE(built_at_exit) << "no exit built the missing tables in 10 tries";
}

// Such a process that burns CPU gets its dump thread from its samples (a buffer to drain),
// and its CPU profile holds the burn.
TEST_F(StartupE2E, ABusyProcessGetsItsDeferredDumpThreadFromItsSamples) {
  run_deferred_start("idle", cache_);
  DeferredStartRun busy = run_deferred_start("burn", cache_);
  EXPECT_EQ(busy.threads, "threads 2");
  EXPECT_EQ(busy.result.term_signal(), SIGTERM) << busy.result.err;
  std::optional<e2e::RawProfile> cpu = profile_of(busy.pid, "cpu");
  ASSERT_TRUE(cpu) << busy.result.err;
  const int ns = cpu->sample_index("cpu");
  EXPECT_GT(cpu->flat_containing(ns, "burn_in_process"), cpu->total(ns) / 2);
}

// A process that forks, as a shell does (a SIGCHLD handler installed first, a SIGTERM
// handler after its first fork, CPU samples between its forks), keeps its dump thread
// deferred: a second thread would make each of its forks glibc's multi-threaded one. Its
// SIGTERM handler's exit() (over sigsuspend(), blocked in a system call, where a thread may
// start) still writes the exit dump, with the samples of its burns.
TEST_F(StartupE2E, AProcessThatForksKeepsItsDumpThreadDeferred) {
  run_deferred_start("idle", cache_);
  DeferredStartRun forking = run_deferred_start("fork_burn", cache_);
  EXPECT_EQ(forking.threads, "threads 1");
  EXPECT_EQ(forking.result.exit_code(), 0) << forking.result.err;
  EXPECT_EQ(forking.result.err, "");
  std::optional<e2e::RawProfile> cpu = profile_of(forking.pid, "cpu");
  ASSERT_TRUE(cpu) << forking.result.err;
  const int ns = cpu->sample_index("cpu");
  EXPECT_GT(cpu->flat_containing(ns, "burn_in_process"), cpu->total(ns) / 2);
}

// A SIGTERM that finds such a process where no thread can start (a qsort callback) comes back
// a millisecond later while the program runs on (as in a fork child); an _exit meanwhile
// still ends the process by that signal (it exited with the program's status).
TEST_F(StartupE2E, ATerminationWaitingForADeferredThreadStillEndsAProcessThatCallsExit) {
  run_deferred_start("idle", cache_);
  DeferredStartRun waited =
      run_deferred_start("callback_exit", cache_, "x", {{"PROFAGENT_CPU_HZ", "1000"}});
  EXPECT_EQ(waited.threads, "threads 1");
  EXPECT_EQ(waited.result.term_signal(), SIGTERM) << waited.result.err;
  EXPECT_EQ(waited.result.out, "ran on\n");
}

// A process that sends itself SIGTERM (`raise`, delivered as the wrapper returns: a glibc
// leaf, which the rule for an interrupted point refuses) starts the thread there as from a
// call of its own: it dies of SIGTERM with its dump (it ran on to its abort() and died of
// SIGABRT).
TEST_F(StartupE2E, ASelfSentTerminationSignalEndsADeferredProcessAtOnceWithItsDump) {
  run_deferred_start("idle", cache_);
  DeferredStartRun raised = run_deferred_start("raise_abort", cache_, "", {}, false);
  EXPECT_EQ(raised.threads, "threads 1");
  EXPECT_EQ(raised.result.term_signal(), SIGTERM) << raised.result.err;
  std::optional<e2e::RawProfile> threads = profile_of(raised.pid, "threads");
  ASSERT_TRUE(threads) << raised.result.err;
  EXPECT_GT(threads->cum_containing(threads->sample_index("threads"), "main"), 0);
}

// A program with its own allocator linked into the executable starts its dump thread at once
// though its tables are cached: most of its points are refused (its code cannot be told from
// its allocator's), and its CPU samples would wait undrained.
TEST_F(StartupE2E, AProgramWithItsOwnAllocatorDoesNotDeferItsDumpThread) {
  for (int run = 0; run < 2; ++run) {  // the first stores the tables
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_}};
    int out = -1, err = -1, in = -1;
    int pid = e2e::start_with_pipes({e2e::program("own_allocator_idle")}, options, &out, &err,
                                    &in);
    std::string line;
    char c;
    while (read(out, &c, 1) == 1 && c != '\n') line += c;
    kill(pid, SIGTERM);
    e2e::RunResult r = e2e::wait_for(pid, 60, out, err);
    close(in);
    EXPECT_EQ(line, "threads 2") << "run " << run;
    EXPECT_EQ(r.term_signal(), SIGTERM) << r.err;
  }
}

// A handler the program installs may call exit() where no thread can start (over pause(),
// inside glibc; over malloc): installing it starts the deferred thread, so that exit still
// writes the process's profiles (its heap sample here) instead of skipping them with a
// warning.
TEST_F(StartupE2E, InstallingASignalHandlerStartsTheDeferredDumpThread) {
  run_deferred_start("idle", cache_);
  DeferredStartRun handled = run_deferred_start("handler", cache_);
  EXPECT_EQ(handled.threads, "threads 2");
  EXPECT_EQ(handled.result.exit_code(), 0) << handled.result.err;
  EXPECT_EQ(handled.result.err, "");
  std::optional<e2e::RawProfile> heap = profile_of(handled.pid, "heap");
  ASSERT_TRUE(heap) << handled.result.err;
  EXPECT_GT(heap->cum_containing(heap->sample_index("inuse_space"), "keep_block"), 0);
}

// A second process maps the unwind tables the first one built (one <build-id>.unwind file
// per object, beside the symbol cache) instead of building them, and walks the same complete
// stacks; a damaged table file is rebuilt and replaced. (The process that finds it damaged
// may use it for its first 100 ms, until its check: docs/symbolization.md. Whether that
// truncates this program's stacks depends on which row the damage hits, so only the next
// process's stacks are checked.)
TEST_F(StartupE2E, SecondProcessWalksWithTheCachedUnwindTables) {
  auto run_demo = [&](bool complete_stacks = true) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    e2e::RunOptions options;
    options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_CPU_HZ", "500"},
                   {"PROFAGENT_SYMBOL_CACHE", cache_}};
    e2e::RunResult r = e2e::run({e2e::program("cpp_demo"), "20000"}, options);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    EXPECT_EQ(r.err, "");
    std::vector<std::string> files = e2e::profiles(dir_, "cpu");
    EXPECT_EQ(files.size(), 1u);
    if (files.size() != 1) return;
    e2e::RawProfile p = e2e::read_raw(files[0]);
    int cpu = p.sample_index("cpu");
    int64_t total = p.total(cpu);
    EXPECT_GT(total, 0);
    if (!complete_stacks) return;
    // Complete stacks: from the hot function through its callers to main.
    EXPECT_GT(p.cum_containing(cpu, "demo::run_doubles(int)"), total * 8 / 10);
    EXPECT_GT(p.cum_containing(cpu, "main"), total * 8 / 10);
  };
  auto table_files = [&] {
    std::vector<std::filesystem::path> found;
    for (const auto& e : std::filesystem::directory_iterator(cache_))
      if (e.path().extension() == ".unwind") found.push_back(e.path());
    return found;
  };
  run_demo();
  std::vector<std::filesystem::path> tables = table_files();
  ASSERT_GE(tables.size(), 3u) << "the program, libc and the agent at least";
  std::map<std::string, std::filesystem::file_time_type> written;
  for (const auto& t : tables) written[t.string()] = std::filesystem::last_write_time(t);

  run_demo();  // from the cache: no table is written again
  for (const auto& t : table_files()) {
    if (written.count(t.string())) {
      EXPECT_EQ(std::filesystem::last_write_time(t), written[t.string()]) << t;
    }
  }

  // Damage every table (one byte in the middle of the rows): each is rebuilt and replaced.
  auto contents = [](const std::filesystem::path& t) {
    std::ifstream f(t, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  std::map<std::string, std::string> damaged;
  for (const auto& t : tables) {
    std::string bytes = contents(t);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0xff);
    std::ofstream(t, std::ios::binary | std::ios::trunc) << bytes;
    damaged[t.string()] = bytes;
  }
  run_demo(/*complete_stacks=*/false);  // runs and writes its profile with damaged tables
  // Those the program loads each run (the program, libc, the agent...) were rebuilt; libdw
  // and libelf, loaded by the first run's symbolization only, stay as they are.
  size_t rebuilt = 0;
  for (const auto& t : tables) rebuilt += contents(t) != damaged[t.string()];
  EXPECT_GE(rebuilt, 3u);
  run_demo();  // complete stacks again, from the rebuilt tables
}

// A C program under the agent's defaults maps the agent and no library for it beyond libc:
// libstdc++, libgcc and libdeflate are linked into libprofagent.so (hidden), exp comes from
// libm only when a heap sample is scaled. `cat /proc/self/maps` shows the reading process's
// own maps.
TEST_F(StartupE2E, ACProgramMapsNoLibraryButLibcForTheAgent) {
  e2e::RunOptions options;
  // Every allocation sampled: cat's buffer makes a heap profile, written (and symbolized) at exit.
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_},
                 {"PROFAGENT_HEAP_RATE", "1"}};
  e2e::RunResult r = e2e::run({"/bin/cat", "/proc/self/maps"}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find("libprofagent.so"), std::string::npos) << "the agent is not there";
  for (const char* lib : {"libstdc++", "libgcc_s", "libm.so", "libm-", "libdeflate", "libz.so"})
    EXPECT_EQ(r.out.find(lib), std::string::npos) << lib << " mapped:\n" << r.out;
  EXPECT_FALSE(e2e::profiles(dir_, "heap").empty());
}

// The agent's own start allocates from its bootstrap arena (collectors/heap/boot_arena.h)
// until the program's first allocation looks up the real allocator: a program that never
// allocates (a shell's `true`) never has the C library's allocator started for the agent (no
// heap set up, no lookup of the real functions). The agent did start (its log says so, and
// logging allocates too); the control shows the check sees a started allocator.
TEST_F(StartupE2E, AProgramThatNeverAllocatesHasNoAllocatorStartedForTheAgent) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_},
                 {"PROFAGENT_LOG", "info"}};
  e2e::RunResult untouched = e2e::run({e2e::program("heap_untouched")}, options);
  EXPECT_EQ(untouched.exit_code(), 0) << "the heap was started before main\n" << untouched.err;
  EXPECT_NE(untouched.err.find("started for heap_untouched"), std::string::npos)
      << untouched.err;
  EXPECT_EQ(e2e::run({e2e::program("heap_untouched"), "malloc"}, options).exit_code(), 1);
  // Without the agent, the same (nothing else in a C program's start allocates).
  options.preload = false;
  EXPECT_EQ(e2e::run({e2e::program("heap_untouched")}, options).exit_code(), 0);
}

// The agent's own C++ runtime keeps no exception emergency pool: libstdc++'s (eh_alloc.cc)
// malloc'ed ~72 KiB from a static constructor in every process, before main, through the
// agent's own malloc hook (~10 us of each `/bin/true`). agent/cxx_exception_memory.cc
// defines the exception allocation functions instead, so eh_alloc.o is not linked; its
// fallback under a full address space is RobustnessE2E.ProgramOutOfAddressSpace... Read from
// the object's symbol table (`nm`, binutils); an object without one fails here.
TEST_F(StartupE2E, TheAgentsCxxRuntimeHasNoExceptionPoolToAllocateAtLoad) {
  e2e::RunOptions options;
  options.preload = false;
  e2e::RunResult r = e2e::run({"nm", "--demangle", e2e::agent_so()}, options);
  ASSERT_EQ(r.exit_code(), 0) << r.err;
  EXPECT_NE(r.out.find(" t __cxa_allocate_exception\n"), std::string::npos)
      << "the agent's own exception allocation is not in the object";
  EXPECT_NE(r.out.find("ExceptionReserve::take"), std::string::npos);
  for (const char* pool : {"emergency_pool", "_GLOBAL__sub_I_eh_alloc.cc", "__gnu_cxx::__freeres"})
    EXPECT_EQ(r.out.find(pool), std::string::npos) << pool << " is linked into the agent";
}

// A process whose unwind tables are all in the cache maps none of them at start
// (agent/runtime/unwind/deferred_tables.h): one that never walks (a shell's `true`) never
// does, one that walks maps them at its first walk, and its stacks are whole.
TEST_F(StartupE2E, CachedTablesAreMappedAtTheFirstWalkNotAtStart) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_}};
  ASSERT_EQ(e2e::run({e2e::program("table_mappings"), "linger"}, options).exit_code(), 0);
  e2e::RunResult quiet = e2e::run({e2e::program("table_mappings"), "count"}, options);
  ASSERT_EQ(quiet.exit_code(), 0) << quiet.err;
  EXPECT_EQ(quiet.out, "tables 0\n") << "a process that has not walked mapped its tables";

  options.env["PROFAGENT_HEAP_RATE"] = "1";  // every allocation sampled: the hook walks
  e2e::RunResult walked = e2e::run({e2e::program("table_mappings"), "walk"}, options);
  ASSERT_EQ(walked.exit_code(), 0) << walked.err;
  int before = -1, after = -1;
  ASSERT_EQ(sscanf(walked.out.c_str(), "before %d\nafter %d", &before, &after), 2)
      << walked.out;
  EXPECT_EQ(before, 0);
  EXPECT_GE(after, 3) << "the program, libc and the agent at least";
  std::string traces, unwinding;
  for (const std::string& f : e2e::profiles(dir_, "heap")) {
    if (!std::filesystem::path(f).filename().string().starts_with("table_mappings")) continue;
    traces += e2e::pprof({"-traces", "-sample_index=alloc_space", f});
    for (const std::string& c : e2e::read_raw(f).comments)
      if (c.starts_with("profagent unwinding:")) unwinding = c;
  }
  EXPECT_NE(traces.find("allocate_here"), std::string::npos) << traces;
  EXPECT_NE(traces.find("main"), std::string::npos) << "the walk stopped short:\n" << traces;
  // The self-accounting tells the one-off mapping apart from the walks' own cost.
  EXPECT_NE(unwinding.find("the cached tables mapped when first needed ("), std::string::npos)
      << unwinding;
}

// A start and a fork child touch a few 64 KiB windows of the agent's code (one page fault
// each), not one per module they pass through: the code they run lies together
// (agent/core/code_layout.h and code_layout.ld). Before that layout, 13-18 windows for a
// start and 4-7 for a fork child. Measured the way a shell's commands run: a first run that
// outlives the start grace has put the unwind tables of every object in the cache. The
// fewest of 3 runs: a CPU sample that happens to land in one (~2% of them) may start the
// deferred dump thread, which runs code of its own.
TEST_F(StartupE2E, AStartAndAForkChildTouchAFewWindowsOfTheAgentsCode) {
  // The library as a process that loads it finds it: read from disk, in the page cache's
  // large folios, whose fault-around maps whole 64 KiB windows. Just linked, its pages are
  // small folios written by the linker, and one window took two or three faults here, each
  // mapping part of its neighbours (5-6 windows counted in one run of three, 3-4 once read).
  const int fd = open(e2e::agent_so().c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_}};
  ASSERT_EQ(e2e::run({e2e::program("code_windows"), "linger"}, options).exit_code(), 0);
  auto windows = [&](const char* mode) {
    int fewest = -1;
    for (int run = 0; run < 3; ++run) {
      e2e::RunResult r = e2e::run({e2e::program("code_windows"), mode}, options);
      EXPECT_EQ(r.exit_code(), 0) << r.err;
      int n = -1;
      EXPECT_EQ(sscanf(r.out.c_str(), "windows %d", &n), 1) << r.out << r.err;
      if (fewest < 0 || n < fewest) fewest = n;
    }
    return fewest;
  };
  int start = windows("start");
  EXPECT_GE(start, 1) << "the agent's code is not mapped";
  EXPECT_LE(start, 5);
  int fork_child = windows("fork");
  EXPECT_GE(fork_child, 1) << "the fork handlers ran no code of the agent";
  EXPECT_LE(fork_child, 3);
}

// A process's start and exit touch a few pages of the agent's data, each one page fault in
// every process a shell starts: the two pages of relocated data (vtables, the kinds'
// tables, the GOT: three with RTTI's type_info objects, before the object was built without
// RTTI), the page of .data where the .bss a start writes lies too (with the heap recorder's
// head; code_layout.ld), one page of the bootstrap arena (the start's temporaries are taken
// back: boot_arena.h) and the deferred unwind tables' list. Before, 11: four relocated
// pages (libstdc++'s demangler tables, the system call names' pointers), the .bss
// spread over three pages with the heap recorder between them (its tail read at exit), and
// three arena pages (a list copied from a vector, strings never taken back). Measured as
// the windows are: after a run that cached the tables, the fewest of 3 runs.
TEST_F(StartupE2E, AStartAndItsExitTouchAFewPagesOfTheAgentsData) {
  e2e::RunOptions options;
  options.env = {{"PROFAGENT_DIR", dir_}, {"PROFAGENT_SYMBOL_CACHE", cache_}};
  ASSERT_EQ(e2e::run({e2e::program("code_windows"), "linger"}, options).exit_code(), 0);
  int fewest = -1;
  for (int run = 0; run < 3; ++run) {
    e2e::RunResult r = e2e::run({e2e::program("code_windows"), "data"}, options);
    EXPECT_EQ(r.exit_code(), 0) << r.err;
    int n = -1;
    EXPECT_EQ(sscanf(r.out.c_str(), "data %d", &n), 1) << r.out << r.err;
    if (fewest < 0 || n < fewest) fewest = n;
  }
  EXPECT_GE(fewest, 1) << "the agent's data is not mapped";
  EXPECT_LE(fewest, 5);
}

// libc's separate debug info has compressed sections: the first process that needs it
// inflates them (all of them, ~40 ms, whatever address it wants) and keeps a decompressed
// copy beside the symbol cache; a second process whose dump finds a libc address the cache has not seen (it sleeps
// in select(), the first in nanosleep) reads that copy instead of inflating libc's DWARF.
TEST_F(StartupE2E, NewLibcAddressInALaterProcessReadsTheDecompressedDwarfCopy) {
  e2e::RunOptions plain;
  plain.preload = false;
  std::string notes = e2e::run({"readelf", "-n", "/lib/x86_64-linux-gnu/libc.so.6"}, plain).out;
  size_t at = notes.find("Build ID: ");
  ASSERT_NE(at, std::string::npos) << notes;
  std::string libc_id = notes.substr(at + 10, notes.find('\n', at) - at - 10);
  if (!std::filesystem::exists("/usr/lib/debug/.build-id/" + libc_id.substr(0, 2) + "/" +
                               libc_id.substr(2) + ".debug"))
    GTEST_SKIP() << "libc6-dbg is not installed: libc has no DWARF to copy";
  // (The first process to dump writes it: the probe's system() shell, or the probe.)
  run_probe(cache_);
  EXPECT_TRUE(std::filesystem::exists(cache_ + "/" + libc_id + ".dwarf"));

  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  std::string in_select = kProbe;
  std::string sleep = "time.sleep(4)  # the first periodic dump";
  in_select.replace(in_select.find(sleep), sleep.size(),
                    "import select; select.select([], [], [], 4)  # the first periodic dump");
  run_probe(cache_, true, in_select);
  std::string second_line = symbolizer_line_of_exit_dump();
  EXPECT_NE(second_line.find("backend=loaded"), std::string::npos) << second_line;
  EXPECT_NE(second_line.find(" dwarf_copies_read=1 "), std::string::npos) << second_line;
  EXPECT_NE(second_line.find(" dwarf_decompressed=0 "), std::string::npos) << second_line;
  // Named from that copy.
  std::string traces = first_python_traces();
  EXPECT_NE(traces.find("__select"), std::string::npos) << traces;
}

}  // namespace
