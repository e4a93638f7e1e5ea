// The agent's API as seen by the outputs (HTTP, push) and the agent's own threads: whether
// it is up, its collectors, the two ways to ask for a dump, on-demand snapshots and
// observation windows of a kind. Outputs name kinds only through their descriptors
// (agent/core/profile_kind.h) and never touch a collector. Normal context unless a function says
// otherwise.
#pragma once

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "collectors/common/collector.h"
#include "agent/profile/pprof/symbolized_profile.h"
#include "agent/core/profile_kind.h"
#include "agent/core/running_flag.h"

namespace profagent {

// The collectors that started (empty before the constructor ran).
const std::vector<Collector*>& running_collectors();

// Writes one dump of every running collector now, on the calling thread, under the dump lock.
// A final dump names the program thread that is ending the process with exit()/_exit()
// (DumpRequest::exiting_tid; 0 for a termination signal).
void dump_now(bool final, pid_t exiting_tid = 0);

// The final dump written on the calling thread, which ends the process (exit, or _exit in a
// fork child whose dump thread could not do it): on its own stack where that has room for
// DWARF reading (1 MiB), else on a fresh stack of the same thread (agent/runtime/fresh_stack.h).
void final_dump_here();

// The final dump of a process whose dump thread is deferred (dump_thread.h), from an exit
// path (exit's atexit handler, the _exit hook), waiting at most `timeout_nanos`: nothing
// when nothing was gathered (no walk then); written here when the exit runs in normal
// context; on the dump thread, started now, when it runs in a
// signal handler over a point where a thread may start; skipped with a warning in a handler
// over an unknown point (it may have interrupted malloc on this thread, which neither a
// dump here nor a thread start can then use). Where nothing can be told (no stack bounds to
// scan) the point counts as normal if `unknown_point_is_normal` (exit(), mostly called from
// program code), else as unknown (_exit, the call handlers make). False when the dump thread
// is not deferred (the caller does as before). Hook context.
bool final_dump_with_thread_deferred(int64_t timeout_nanos, pid_t exiting_tid,
                                     bool unknown_point_is_normal);

// The final dump of an exit that may run inside a signal handler (_exit in a fork child, a
// termination that waited): a deferred child's rule above (a point it cannot see counts as
// unknown), else on the dump thread (waiting at most `timeout_nanos`), else here. Hook
// context.
void final_dump_maybe_in_handler(int64_t timeout_nanos, pid_t exiting_tid);

// A termination signal that was waiting for a deferred dump thread (core/termination_wait.h)
// when the program exits, execs or takes the signal over: the final dump, then death by
// that signal, as the program would have died of it. Hook context.
[[noreturn]] void die_of_waiting_termination(int sig, pid_t exiting_tid);

// Wakes the dump thread to write a dump. SIGNAL-SAFE (a futex wake-up).
void request_dump() noexcept;

// The part of the agent's start that need not delay the program: the first unwind tables
// and each collector's finish_start. The dump thread runs it 2 ms after start, or when woken
// sooner (or the constructor, or a fork child, if that thread could not start). Once per
// process (a fork child keeps its parent's). A process that ends before it ran (a shell's
// `true`) never pays for it.
void finish_agent_start();
// Makes or checks PROFAGENT_DIR, once (warning if it cannot be written): the dump thread
// right after finish_agent_start; a dump that writes does it first if still due.
void prepare_profile_directory();

// Every kind the agent knows (the registry), in file-kind order.
std::span<const ProfileKind* const> known_kinds();

// Whether `kind`'s collector started (its setting is on and it could start).
bool kind_running(const ProfileKind& kind);

// On-demand profiles (the HTTP endpoint), besides the file dumps: a snapshot of a running
// kind now, under the dump lock (the dump sequence number is not advanced); nothing if the
// kind is not running or has nothing to write.
std::optional<ProfileBuilder> snapshot_kind(const ProfileKind& kind);
// `builder` symbolized under the dump lock with the shared symbolizer (refreshed first; the
// Symbolizer is not thread-safe: this is the only way to symbolize outside dump_now).
SymbolizedProfile symbolize_for_output(ProfileBuilder builder);

// Observation windows (windows.cc): what `kind` records from start_window until
// end_window, as a profile not yet symbolized. A kSinceLastDump kind (cpu) collects the
// window itself (a kind that is off runs at its setting's on_demand_value for the window's
// length, and only one window of such a kind is open at a time, as Go allows one CPU
// profile); a kSinceStart kind's window is the delta of two snapshots; a kSnapshot kind has
// none. Any agent thread.
struct WindowStart {
  int id = 0;         // > 0 on success
  std::string error;  // otherwise why (for the HTTP answer)
};
WindowStart start_window(const ProfileKind& kind);
// The window's profile so far; it stays open. A collector-kept (kSinceLastDump) window goes
// on from the read: the next read or the end covers what came after it, so successive reads
// are successive windows. nullopt if the id is unknown or it failed.
std::optional<ProfileBuilder> read_window(int id);
// The window's profile; the window is forgotten. nullopt if the id is unknown or it failed.
std::optional<ProfileBuilder> end_window(int id);

// Background work of every running collector and of those running only for a window
// (draining signal buffers); called by the dump thread about every 100 ms.
void tick_collectors();

// In a forked child: the parent's windows are forgotten (normal context, atfork child).
void forget_windows_after_fork();

// For windows.cc: the collector of `kind` (started or not), and c.snapshot() under the dump
// lock.
Collector* find_collector(const ProfileKind& kind);
std::optional<ProfileBuilder> snapshot_profile(Collector& c);

}  // namespace profagent
