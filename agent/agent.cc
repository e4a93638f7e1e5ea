// The agent's lifecycle: start (from the constructor), the dump path every trigger shares,
// the exit dump, fork handling and the per-thread start/exit calls. Normal context.
#include "agent/agent.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "agent/core/clock.h"
#include "agent/core/contained.h"
#include "agent/dump_thread.h"
#include "agent/output/http/http_server.h"
#include "agent/runtime/agent_thread.h"
#include "agent/runtime/hook_guard.h"
#include "agent/lifecycle.h"
#include "agent/core/log.h"
#include "agent/runtime/child_env.h"
#include "agent/profile/pprof/file_writer.h"
#include "agent/core/fork_child.h"
#include "agent/core/fork_gate.h"
#include "agent/program_threads.h"
#include "agent/profile/pprof/output_dir.h"
#include "agent/core/process_id.h"
#include "agent/core/program_name.h"
#include "agent/output/push/pusher.h"
#include "collectors/common/self_stats.h"
#include "agent/runtime/private_files.h"
#include "agent/runtime/fresh_stack.h"
#include "agent/core/termination_wait.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/signal_retry.h"
#include "agent/runtime/thread_start_point.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/signal_stack_room.h"
#include "agent/signals.h"
#include "agent/profile/symbolize/backend_loader.h"
#include "agent/profile/symbolize/symbolizer.h"
#include "agent/runtime/threads/thread_identity.h"
#include "agent/runtime/unwind/stack_walk.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwind_cache.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/core/running_flag.h"
#include "agent/core/valgrind.h"
#include "collectors/registry.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

// Everything the lifecycle owns. Allocated once and never destroyed: the exit dump runs
// after static destructors of the program, and must find all of it intact.
struct AgentState {
  std::vector<std::unique_ptr<Collector>> all;
  std::vector<Collector*> running;
  std::mutex dump_mutex;
  Symbolizer* symbolizer = nullptr;
  uint64_t seq = 0;
  int64_t cache_saved_at = 0;  // monotonic ns of the last symbol-cache save (0: never)
  bool final_done = false;
  bool write_failing = false;
  bool directory_prepared = false;  // under dump_mutex: prepare_output_directory ran
  // finish_agent_start ran (kept in a fork child); its lock is never held with dump_mutex.
  std::mutex finish_mutex;
  std::atomic<bool> start_finished{false};
  std::string exe;
};

AgentState* g_state = nullptr;
constinit pthread_key_t g_thread_exit_key = 0;

// Points the existing NAME=... entry of the process environment at NAME=value. Not setenv:
// some programs (bash) interpose their own setenv, and read main's envp, which is the same
// array as environ at this point, so the entry is replaced in place. The new string is
// never freed (the environment may keep pointing at it).
void replace_environment_entry(const char* name, const std::string& value) {
  size_t len = strlen(name);
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') {
      std::string entry = std::string(name) + "=" + value;
      char* copy = static_cast<char*>(malloc(entry.size() + 1));
      if (copy == nullptr) return;
      memcpy(copy, entry.c_str(), entry.size() + 1);
      *e = copy;
      return;
    }
  }
}

void on_thread_exit_key(void*) {
  AgentScope scope;
  agent_thread_exiting();
}

PROFAGENT_START_PATH bool lost_events(const Collector& c) {
  const LostCounter* lost = c.descriptor().lost;
  return lost != nullptr && lost->events.load(std::memory_order_relaxed) != 0;
}

// A final dump that would leave every profile out (left_out_of_dump), known without taking
// one: each running collector says so cheaply and none lost an event. A shell's `true` then
// ends without a snapshot, a /proc read or a profile built.
PROFAGENT_START_PATH
bool nothing_to_write_at_exit(pid_t exiting_tid) {
  DumpRequest request;
  request.final = true;
  request.exiting_tid = exiting_tid;
  for (Collector* c : g_state->running)
    if (lost_events(*c) || !c->nothing_to_write_at_exit(request)) return false;
  return true;
}

// Every running collector gathered nothing (Collector::gathered_nothing), none lost an
// event and no dump signal waits: a final dump would write nothing. Safe at any point an
// exit runs, a handler that interrupted malloc included.
PROFAGENT_START_PATH bool gathered_nothing_to_write() {
  if (g_state == nullptr || dump_requested()) return false;
  for (Collector* c : g_state->running)
    if (lost_events(*c) || !c->gathered_nothing()) return false;
  return true;
}

void exit_dump(void*) { dump_now(/*final=*/true, current_tid()); }

// How long exit() from a handler on its altstack waits for the dump thread's exit dump.
constexpr int64_t kExitDumpOnDumpThreadNanos = 10 * 1000000000LL;

void exit_through_the_agent();
void store_unwind_tables_the_start_left();
bool start_may_defer_dump_thread();

// The atexit handler: an exception leaving it would end the exit in std::terminate.
PROFAGENT_START_PATH
void at_exit() {
  if (!agent_running()) return;
  run_contained("writing the exit dump", exit_through_the_agent);
}

PROFAGENT_START_PATH
void exit_through_the_agent() {
  if (int sig = termination_waiting()) die_of_waiting_termination(sig, current_tid());
  if (final_dump_with_thread_deferred(kExitDumpOnDumpThreadNanos, current_tid(),
                                      /*unknown_point_is_normal=*/true))
    return;
  // exit() in a signal handler (on its altstack, or found by a walk through a signal frame:
  // a SIGALRM or SIGINT handler that ends the program) may have interrupted malloc on this
  // very thread, whose lock the dump would wait for forever: the dump thread (its own arena,
  // its own stack) writes it while this one waits, at most 10 s.
  const bool in_handler = current_stack_room().where == StackRoom::kAltStack ||
                          where_exit_runs() != ExitPoint::kNormal;
  if (in_handler && final_dump_on_dump_thread(kExitDumpOnDumpThreadNanos, current_tid()))
    return;
  final_dump_here();
  if (!in_handler) store_unwind_tables_the_start_left();
}

// A process that ends within its dump thread's start grace (a shell's `true`, `basename`,
// `dirname`: ~1 ms) never built its unwind tables, so no run of it stored them in the unwind
// cache, and every run started a dump thread again, for want of them (~70 us of each such
// process on the VM of 2026-12-06's night). Such a process builds and stores them at its exit
// when that is small (at most kExitBuildEntries FDEs in all: a coreutils binary lists
// ~100-500, libc ~3,700, ~1 ms) and would let its next run defer the thread
// (defer_dump_thread_at_start's other conditions), on a stack with the exit dump's room, and
// not while the dump thread builds them itself; its next run maps them and defers the thread.
// A bigger build is left to a process that lives past the grace.
constexpr uint64_t kExitBuildEntries = 4096;
bool g_tables_cached_at_start = false;  // (then nothing is missing: no count at exit)

PROFAGENT_START_PATH
void store_unwind_tables_the_start_left() {
  if (g_state->start_finished.load(std::memory_order_acquire) || dump_thread_deferred() ||
      g_tables_cached_at_start || shares_its_parents_memory())
    return;
  if (!start_may_defer_dump_thread()) return;
  const StackRoom room = current_stack_room();
  if (room.where != StackRoom::kThreadStack || room.bytes < kRoomForExitDump) return;
  const uint64_t entries = unwind_tables_entries_to_build(kExitBuildEntries);
  if (entries == 0 || entries > kExitBuildEntries) return;
  if (unwind_tables_refresh_if_idle())
    log_debug("built the unwind tables the start left ({} FDEs) for the cache", entries);
}

}  // namespace

PROFAGENT_START_PATH
bool final_dump_with_thread_deferred(int64_t timeout_nanos, pid_t exiting_tid,
                                     bool unknown_point_is_normal) {
  if (!dump_thread_deferred()) return false;
  // Nothing to write (a shell's `true`): no walk tells where the exit runs (it would map the
  // deferred tables and fault their pages in only for this).
  if (gathered_nothing_to_write()) return true;
  const bool on_altstack = current_stack_room().where == StackRoom::kAltStack;
  ExitPoint point = where_exit_runs();
  if (point == ExitPoint::kUnknown && unknown_point_is_normal) point = ExitPoint::kNormal;
  switch (point) {
    case ExitPoint::kNormal:
      if (on_altstack) break;  // (a handler whose walk failed: unknown)
      final_dump_here();
      return true;
    case ExitPoint::kHandlerOverSafe:
      start_deferred_dump_thread(/*in_handler=*/true);
      if (final_dump_on_dump_thread(timeout_nanos, exiting_tid)) return true;
      break;
    case ExitPoint::kHandlerOverUnsafe:
    case ExitPoint::kUnknown:
      break;
  }
  log_warning_direct(
      "the exit dump is skipped: this process exits from a signal handler that interrupted "
      "code the dump cannot run over, and it had no dump thread yet");
  return true;
}

void final_dump_maybe_in_handler(int64_t timeout_nanos, pid_t exiting_tid) {
  if (!final_dump_with_thread_deferred(timeout_nanos, exiting_tid,
                                       /*unknown_point_is_normal=*/false) &&
      !final_dump_on_dump_thread(timeout_nanos, exiting_tid))
    final_dump_here();
}

void die_of_waiting_termination(int sig, pid_t exiting_tid) {
  end_signal_retries();  // (a retry landing in this dump would only be refused again)
  clear_termination_waiting();
  final_dump_maybe_in_handler(kExitDumpOnDumpThreadNanos, exiting_tid);
  die_of_signal(sig);
}

void final_dump_here() {
  StackRoom room = current_stack_room();
  if (room.where == StackRoom::kThreadStack && room.bytes >= kRoomForExitDump) {
    exit_dump(nullptr);  // the common case: room enough where the process ends
    return;
  }
  // A small thread stack (`ulimit -s 128`, a 256 KiB thread), a coroutine's, an altstack
  // with no dump thread: this thread writes it on a fresh 8 MiB stack, keeping the locks it
  // holds (exit() in a library constructor holds the loader's lock, which the dump takes
  // again).
  if (!run_on_fresh_stack(exit_dump, nullptr)) exit_dump(nullptr);
}

namespace {

// The dump thread can wait until something needs it (dump_thread.h) unless the configuration
// has periodic work for it (PROFAGENT_INTERVAL, a push, the HTTP endpoint) or a running
// collector needs it at once.
PROFAGENT_FORK_PATH bool dump_thread_can_wait() {
  if (config().interval_nanos > 0 || !config().push_url.empty() || !config().http.empty())
    return false;
  for (Collector* c : g_state->running)
    if (c->needs_dump_thread_at_once()) return false;
  return true;
}

// What a start that defers its dump thread needs besides every table cached: no periodic
// work for the thread, no thread but the program's, no allocator of its own in the
// executable (see defer_dump_thread_at_start).
PROFAGENT_START_PATH bool start_may_defer_dump_thread() {
  return dump_thread_can_wait() && !program_may_have_other_threads() &&
         !program_allocator_in_executable();
}

// A process started with no periodic work for the dump thread starts it only when it needs
// one, as a fork child does (dump_thread.h): a shell's `true` or `sed`, make's compilers and
// a test suite's processes mostly end first, and the thread (made, then torn down by the
// exit) cost each ~0.25 ms here. The rule that lets a handler or hook start it later walks
// the stack with the unwind tables, so this waits only when every table is in the unwind
// cache: mapped by the first walk (deferred_tables.h; a process that never walks maps none,
// ~60 us less), instead of built from .eh_frame (milliseconds), which the thread does off
// the program's path. With the cache off or a table missing (a binary's first run) the
// thread starts as before. False: start it now.
PROFAGENT_START_PATH bool defer_dump_thread_at_start() {
  // (Only for a process whose only thread is the program's: the rule that starts the thread
  // later, and a termination signal's retry, sent to the thread that got it, assume so.)
  // Nor for a program with its own allocator, where most points are refused (its CPU
  // samples would wait undrained).
  if (!start_may_defer_dump_thread()) return false;
  // Every table cached: the first walk maps them (deferred_tables.h), a process that never
  // walks maps none.
  switch (unwind_tables_defer_cached()) {
    case DeferredTables::kNotAllCached:
      return false;
    case DeferredTables::kDeferred:
      break;
    case DeferredTables::kCachedNotDeferred:
      unwind_tables_refresh();
      if (unwind_modules() == nullptr) return false;
      break;
  }
  g_tables_cached_at_start = true;
  defer_dump_thread(config().interval_nanos);
  return true;
}

void reset_in_fork_child(pid_t pid) noexcept;

// A fork handler, run by glibc's fork(): nothing may be thrown through its C frames. The reset
// allocates nothing and reaches no cancellation point; what may (finishing the start,
// starting the dump thread, a push's state) runs contained there. (Contained as a whole, it
// called pthread_setcancelstate twice in every fork child: a page of libc's code a shell's
// child touches for nothing else.)
PROFAGENT_FORK_PATH void fork_child() {
  AgentScope scope;
  // The child's only thread: its tid, cached by thread_identity's earlier fork handler, is
  // the child's pid (no getpid here). Recorded first: the reset below already runs in a
  // process known as a fork child, not as one sharing its parent's memory.
  const pid_t pid = current_tid();
  record_fork_child(pid);
  // (Declined: a start that failed out of memory; every hook passes through.)
  if (g_state == nullptr || (agent_start_decided() && !agent_running())) return;
  reset_in_fork_child(pid);
}

PROFAGENT_FORK_PATH void reset_in_fork_child(pid_t pid) noexcept {
  // Only this thread exists now. Locks another parent thread held are re-made, state that
  // belongs to the parent (its samples, its dump count, its dump thread) is dropped, and
  // the child carries on profiling under its own pid.
  unwinder_after_fork_child();
  forget_logger_after_fork();
  reset_program_sigprof_action_after_fork();
  forget_deferred_sigprof_after_fork();
  forget_other_sigprof_holders_after_fork();
  // (Each written only if it changes: fork_reset.h.)
  remake_lock_if_used(g_state->dump_mutex);
  remake_lock_if_used(g_state->finish_mutex);  // a parent thread may have been finishing its start
  assign_if_changed(g_state->symbolizer, nullptr);  // the parent's may be mid-update; leak it
  assign_if_changed(g_state->seq, 0u);
  assign_if_changed(g_state->final_done, false);
  reset_thread_registry();
  forget_agent_thread_starts_after_fork();
  forget_dump_thread_after_fork();
  for (Collector* c : g_state->running) c->on_fork_child();
  stop_timer_while_held();  // the forking thread's hold, with the child's new timer
  forget_windows_after_fork();
  reset_signal_retries_after_fork();
  // (It allocates: out of memory costs the child its pushes, not the rest of its reset.)
  if (!config().push_url.empty())
    run_contained("resetting the push in a fork child", push_after_fork_child);
  // A parent that forked before its dump thread finished the start may have left the child
  // no tables: the child maps or builds them here (the rule that lets a handler or hook start
  // the deferred thread walks the stack with them). A parent whose own thread was deferred
  // (agent_start) left its cached tables to its first walk, and so does the child
  // (deferred_tables.h: most of a shell's children exec at once); the rest of its start
  // waits for the thread.
  constexpr const char* kWhat = "resetting the agent in a fork child";
  if (dump_thread_can_wait()) {
    if (unwind_modules() == nullptr && !unwind_tables_deferred())
      run_contained(kWhat, finish_agent_start);
    defer_dump_thread(config().interval_nanos, pid);
  } else {
    run_contained(kWhat, [] {
      if (!start_dump_thread(config().interval_nanos)) finish_agent_start();
    });
  }
}

// The one symbolizer every encoding uses, under the dump lock (made on first use, and anew
// in a forked child). ProfileBuilder::encode refreshes it, so libraries loaded since the
// last encoding are listed.
Symbolizer& dump_symbolizer() {
  if (g_state->symbolizer == nullptr)
    g_state->symbolizer = new Symbolizer(0, config().symbol_cache_dir);  // PROFAGENT_SYMBOL_CACHE
  return *g_state->symbolizer;
}

// What the symbolizer learned goes to the symbol cache at most every 10 s, and at the final
// dump: rewriting a library's cache file at every periodic dump (merged with what is on
// disk) cost a frequently dumping process more than the lookups it saves.
void save_symbol_cache(bool final, int64_t now_monotonic_nanos) {
  constexpr int64_t kCacheSaveEveryNanos = 10'000'000'000;
  if (g_state->symbolizer == nullptr) return;
  if (!final && now_monotonic_nanos - g_state->cache_saved_at < kCacheSaveEveryNanos) return;
  g_state->symbolizer->save_cache();
  g_state->cache_saved_at = now_monotonic_nanos;
}

// PROFAGENT_DIR is made (or checked) once, under the dump lock: by the dump thread after its
// start grace (prepare_profile_directory) or by the first dump, whichever comes first. Its
// problem, if any, is the one warning.
void prepare_output_directory_locked() {
  if (g_state->directory_prepared) return;
  g_state->directory_prepared = true;
  OutputDirectory out = prepare_output_directory(config().dir);
  if (!out.problem.empty()) {
    log().warn("PROFAGENT_DIR: {}; no profile can be written", out.problem);
    g_state->write_failing = true;
  } else if (!out.warning.empty()) {
    log().warn("PROFAGENT_DIR: {}", out.warning);
  }
}

// How the first samples were walked: before the dump thread published the first unwind
// tables each walk read its rules from the objects' .eh_frame (slower, same stacks).
std::string unwinder_comment() {
  int64_t first = first_unwind_tables_nanos(), start = self_stats_start_monotonic_nanos();
  std::string line = "profagent unwinding: first tables ";
  line += first != 0 && start != 0 && first >= start ? format_nanos(first - start) + " after start"
                                                     : "not built yet";
  const WalksWithoutTables early = walks_without_tables();
  line += "; " + std::to_string(early.count) +
          " walks before them read their rules from .eh_frame (" + format_nanos(early.nanos) + ")";
  // (A process that deferred its cached tables: the walk that mapped them paid this once.)
  if (int64_t mapping = deferred_tables_mapping_nanos(); mapping > 0)
    line += "; the cached tables mapped when first needed (" + format_nanos(mapping) + ")";
  return line;
}

std::string symbolizer_comment() {
  return g_state != nullptr && g_state->symbolizer != nullptr ? g_state->symbolizer->stats_line()
                                                              : "";
}

}  // namespace

const std::vector<Collector*>& running_collectors() {
  static const std::vector<Collector*> none;
  return g_state != nullptr ? g_state->running : none;
}

namespace {

void start_in_this_process();

}  // namespace

// Out of memory at start (a process started under a tight RLIMIT_AS): the collectors that
// started are stopped and every hook passes through, as under valgrind.
PROFAGENT_START_PATH
void agent_start() {
  AgentScope scope;
  StartPid pid;  // (the start's ~7 own_pid() calls: one system call)
  if (g_state != nullptr) return;
  if (run_contained("starting; the agent is off in this process", start_in_this_process))
    return;
  if (g_state != nullptr)
    for (Collector* c : g_state->running) run_contained("stopping a collector", [c] { c->stop(); });
  set_agent_declined();
}

namespace {

PROFAGENT_START_PATH
void start_in_this_process() {
  // The working directory resolves a relative PROFAGENT_DIR (the default, "profiles");
  // exec'd children get it absolute and skip the system call.
  char cwd[PATH_MAX];
  const char* dir_setting = getenv("PROFAGENT_DIR");
  std::string cwd_string;
  if ((dir_setting == nullptr || dir_setting[0] != '/') && getcwd(cwd, sizeof cwd) != nullptr)
    cwd_string = cwd;
  ParsedConfig parsed =
      parse_config([](const char* name) { return getenv(name); }, cwd_string, all_kinds());
  set_log_level(parsed.config.log_level);
  for (const std::string& w : parsed.warnings) log().warn("{}", w);
  if (running_under_valgrind()) {
    // Nothing is started: no signal, no thread, no hook that does more than pass through,
    // nothing allocated for the warning. (Its children that valgrind does not run are
    // profiled; PROFAGENT_CHILDREN=0 reaches none of them: valgrind's launcher, a native
    // process that runs the agent, filters the environment first.)
    log_warning_direct(
        "running under valgrind: the agent stays off in this process (valgrind cannot deliver "
        "its sampling signal safely, and memcheck must see every allocation itself)");
    set_agent_declined();
    return;
  }
  set_config(parsed.config);
  // An exec'd child with another working directory must write to the same place (with
  // PROFAGENT_CHILDREN=0 no child runs the agent, and the environment is left untouched).
  if (const char* dir = getenv("PROFAGENT_DIR");
      parsed.config.children && dir != nullptr && dir[0] != '/' && dir[0])
    replace_environment_entry("PROFAGENT_DIR", parsed.config.dir);

  self_stats_start();
  g_state = new AgentState;
  g_state->exe = program_name();
  child_env_start(config().children);  // PROFAGENT_CHILDREN=0: exec hooks filter the env
  set_unwind_cache_dir(config().symbol_cache_dir);  // built tables kept beside the symbols
  remember_current_tid();  // (before unwinder_init: the main thread's stack asks for it)
  unwinder_init();
  remember_libc_and_loader_code();  // (a fork child's deferred dump thread)
  note_threads_at_start();  // before the agent's own threads make glibc's flag false
  pthread_key_create(&g_thread_exit_key, on_thread_exit_key);

  // Before any agent thread, the wall collector's sampler (started by its start()) included:
  // each reads whether the loader is being debugged when it takes a file table of its own.
  // (Whether it can have one is probed by the first that asks, in its own thread: a probe
  // made here, its result read by a thread that raced ahead of it, had kept that thread on
  // the program's table, SignalsE2E.TheAgentsDescriptorsNeverTakeTheProgramsNumbers.)
  private_files_start();
  g_state->all = make_all_collectors();
  // (Room first: a collector that started is always in `running`, where a failed start
  // stops it.)
  g_state->running.reserve(g_state->all.size());
  for (auto& c : g_state->all) {
    if (!c->wanted(config())) continue;
    if (c->start(config())) g_state->running.push_back(c.get());
  }
  add_self_comment_source(symbolizer_comment);
  add_self_comment_source(unwinder_comment);
  symbolize::remember_backend_directory();  // before the program can chdir
  push_start(config(), g_state->exe);  // PROFAGENT_PUSH_URL
  start_program_thread_tracking();  // before any agent thread: counts the program's
  install_fork_gate();  // before any agent thread: a fork never copies a lock one holds
  if (!defer_dump_thread_at_start() &&
      !start_dump_thread(config().interval_nanos)) {  // (it checked the cached tables)
    finish_agent_start();
    prepare_profile_directory();
  }
  if (!config().http.empty()) start_http_server(config().http);  // PROFAGENT_HTTP
  install_agent_signal_handlers(config().dump_signal);
  pthread_atfork(nullptr, nullptr, fork_child);
  start_fork_child_record();  // _exit in a fork child dumps first
  atexit(at_exit);
  set_agent_running();
  log_info("started for {} (pid {}), writing to {}", g_state->exe, own_pid(), config().dir);
}

}  // namespace

PROFAGENT_FORK_PATH void finish_agent_start() {
  if (g_state == nullptr || g_state->start_finished.load(std::memory_order_acquire)) return;
  AgentScope scope;
  // The dump thread after its grace; the constructor or a fork child without one. (Nothing
  // else needs it first: each walk of another thread refreshes the tables itself.)
  std::lock_guard<std::mutex> lock(g_state->finish_mutex);
  if (g_state->start_finished.load(std::memory_order_acquire)) return;
  // Out of memory: what was not built is built later (each tick refreshes the tables).
  run_contained("finishing the agent's start", [] {
    unwind_tables_refresh();  // first: walks made meanwhile read the objects' .eh_frame
    for (Collector* c : g_state->running) c->finish_start();
  });
  g_state->start_finished.store(true, std::memory_order_release);
}

void prepare_profile_directory() {
  if (g_state == nullptr) return;
  AgentScope scope;
  run_contained("preparing the profile directory", [] {
    std::lock_guard<std::mutex> lock(g_state->dump_mutex);
    prepare_output_directory_locked();
  });
}

// Blocks SIGXFSZ on the dumping thread for the dump: a host running under `ulimit -f` must
// see our write fail with EFBIG (one warning), not die of SIGXFSZ. A SIGXFSZ our write
// raised is consumed before the mask is restored; one that was pending before is left alone.
class FileSizeSignalBlock {
 public:
  FileSizeSignalBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGXFSZ);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGXFSZ) == 1;
  }
  ~FileSizeSignalBlock() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGXFSZ) == 1) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGXFSZ);
      timespec zero{0, 0};
      sigtimedwait(&set, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

namespace {

void dump_locked(bool final, pid_t exiting_tid) {
  if (g_state->final_done) return;
  if (final) g_state->final_done = true;
  if (final && nothing_to_write_at_exit(exiting_tid)) {
    if (g_state->symbolizer != nullptr) {  // what an HTTP window's symbolization learned
      FileSizeSignalBlock no_sigxfsz;
      save_symbol_cache(/*final=*/true, monotonic_nanos());
    }
    push_flush_at_exit();
    return;
  }
  FileSizeSignalBlock no_sigxfsz;  // (four system calls: not for an exit with nothing)
  int64_t dump_cpu_start = clock_nanos(CLOCK_THREAD_CPUTIME_ID);
  SelfSnapshot self = self_snapshot(all_kinds());
  DumpRequest request;
  request.now_unix_nanos = unix_nanos();
  request.now_monotonic_nanos = monotonic_nanos();
  request.seq = ++g_state->seq;
  request.final = final;
  request.exiting_tid = final ? exiting_tid : 0;
  bool failed = false;
  // Every profile is taken first, then the process's mappings are read once for all of them
  // (a library loaded before the last snapshot is listed).
  std::vector<std::pair<Collector*, ProfileBuilder>> taken;
  std::optional<std::vector<std::string>> self_lines;  // the same in every file; made once
  for (Collector* c : g_state->running) {
    std::optional<ProfileBuilder> builder = c->snapshot(request);
    if (!builder) continue;
    const SelfSnapshot::Lost* lost = self.lost_of(c->descriptor());
    if (left_out_of_dump(request, *builder, lost != nullptr ? lost->events : 0)) continue;
    if (!self_lines) self_lines = self_comments(self);
    add_self_accounting(*builder, c->descriptor(), self, &*self_lines);
    taken.emplace_back(c, std::move(*builder));
  }
  if (taken.empty()) {  // nothing to write (every kind off): no maps read, no symbolizer
    // (One may exist for the HTTP endpoint's windows: what it learned is still kept.)
    if (final) save_symbol_cache(/*final=*/true, request.now_monotonic_nanos);
    if (final) push_flush_at_exit();
    return;
  }
  prepare_output_directory_locked();  // if the dump thread has not yet
  // The dump thread checks the cached unwind tables 100 ms after start: a process that ends
  // sooner and writes profiles checks them now, so a damaged table file is still found and
  // rebuilt (one that writes nothing never pays for it).
  if (final) unwind_tables_check_pending();
  bool new_symbolizer = g_state->symbolizer == nullptr;  // its constructor read the maps
  Symbolizer& symbolizer = dump_symbolizer();
  symbolizer.hold_mappings(/*refresh_first=*/!new_symbolizer);
  for (auto& [c, builder] : taken) {
    SymbolizedProfile profile = symbolize_profile(std::move(builder), symbolizer);
    std::string bytes = gzip_compress(profile.encode(), 1);
    if (bytes.empty()) {  // encoding failed (out of memory): never write an empty file
      log().warn("cannot encode the {} profile; this dump of it is lost", c->kind());
      continue;
    }
    std::string path =
        profile_path(config().dir, g_state->exe, getpid(), request.seq, c->kind());
    std::string error = write_file_atomically(path, bytes);
    // Files first, then the push (queued for the push thread; never waits for the network).
    if (push_enabled())
      push_profile(c->descriptor(), std::move(bytes), request.now_unix_nanos,
                   std::move(profile));
    if (error.empty()) {
      log_debug("wrote {}", path);
      continue;
    }
    // One warning when writing starts failing (full disk, directory gone), not one per file.
    if (!g_state->write_failing && !failed) log().warn("{}; this dump is lost", error);
    failed = true;
  }
  symbolizer.release_mappings();
  save_symbol_cache(final, request.now_monotonic_nanos);
  if (!failed && g_state->write_failing) log_info("profiles are being written again");
  g_state->write_failing = failed;
  self_add_cost(SelfCost::kDump, clock_nanos(CLOCK_THREAD_CPUTIME_ID) - dump_cpu_start);
  if (final) push_flush_at_exit();
}

}  // namespace

void dump_now(bool final, pid_t exiting_tid) {
  if (g_state == nullptr) return;
  AgentScope scope;
  // Out of memory (RLIMIT_AS, a cgroup's limit): this dump is lost, the program runs on and
  // the next dump tries again.
  run_contained("writing the profiles; this dump is lost", [&] {
    std::lock_guard<std::mutex> lock(g_state->dump_mutex);
    dump_locked(final, exiting_tid);
  });
}

std::span<const ProfileKind* const> known_kinds() { return all_kinds(); }

Collector* find_collector(const ProfileKind& kind) {
  if (g_state == nullptr) return nullptr;
  for (auto& c : g_state->all)
    if (&c->descriptor() == &kind) return c.get();
  return nullptr;
}

bool kind_running(const ProfileKind& kind) {
  for (Collector* c : running_collectors())
    if (&c->descriptor() == &kind) return true;
  return false;
}

std::optional<ProfileBuilder> snapshot_kind(const ProfileKind& kind) {
  for (Collector* c : running_collectors())
    if (&c->descriptor() == &kind) return snapshot_profile(*c);
  return std::nullopt;
}

std::optional<ProfileBuilder> snapshot_profile(Collector& c) {
  if (g_state == nullptr) return std::nullopt;
  AgentScope scope;
  std::lock_guard<std::mutex> lock(g_state->dump_mutex);
  DumpRequest request;
  request.now_unix_nanos = unix_nanos();
  request.now_monotonic_nanos = monotonic_nanos();
  request.seq = g_state->seq;
  return c.snapshot(request);
}

SymbolizedProfile symbolize_for_output(ProfileBuilder builder) {
  if (g_state == nullptr) {  // not started: no symbolizer, every address stays unnamed
    static const ResolvedAddress* unknown = [] {
      auto* r = new ResolvedAddress;
      r->frames.emplace_back().function = "?";
      return r;
    }();
    return symbolize_profile(std::move(builder), {},
                             [](uint64_t) -> const ResolvedAddress& { return *unknown; });
  }
  AgentScope scope;
  std::lock_guard<std::mutex> lock(g_state->dump_mutex);
  return symbolize_profile(std::move(builder), dump_symbolizer());
}

void agent_thread_started() noexcept {
  if (g_state == nullptr) return;
  note_current_thread_name();
  pthread_setspecific(g_thread_exit_key, reinterpret_cast<void*>(1));
  for (Collector* c : g_state->running) c->on_thread_start();
}

void agent_thread_exiting() noexcept {
  forget_sigprof_hold_at_thread_exit();
  if (g_state == nullptr) return;
  note_current_thread_name();
  for (Collector* c : g_state->running) c->on_thread_exit();
  unwinder_thread_exiting();  // (last: the collectors' exits may still walk)
}

}  // namespace profagent
