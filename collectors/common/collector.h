// The one interface every profile kind implements (after async-profiler's Engine): the agent
// core starts, stops, forks and dumps all collectors the same way. Normal context only; the
// hook/handler halves of a collector live in their own files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "agent/core/config.h"
#include "agent/profile/pprof/profile_builder.h"
#include "agent/core/profile_kind.h"

namespace profagent {

// What a dump asks of a collector.
struct DumpRequest {
  int64_t now_unix_nanos = 0;     // wall clock at the dump (Profile.time_nanos for snapshots)
  int64_t now_monotonic_nanos = 0;
  uint64_t seq = 0;               // this process's dump number, from 1
  bool final = false;             // the dump at exit or on a termination signal
  // With `final`: the program thread ending the process with exit() or _exit(), whose own
  // stack at this point is only that call; 0 when a termination signal ends it.
  pid_t exiting_tid = 0;
};

// Whether a dump leaves this profile out. Only the final dump (exit, or a termination
// signal) does, and only a profile that holds no sample and lost none: samples known lost
// (`lost_events`, the agent's counter for the kind) are written as "[profagent: lost]". A
// short process (a shell's `true`, a build's `sed`) thus writes no empty file at exit.
// Dumps asked for (signal, interval, HTTP) always write every kind.
inline bool left_out_of_dump(const DumpRequest& request, const ProfileBuilder& profile,
                             uint64_t lost_events) {
  return request.final && profile.sample_count() == 0 && lost_events == 0;
}

class Collector {
 public:
  virtual ~Collector() = default;

  // The kind this collector writes (agent/core/profile_kind.h).
  virtual const ProfileKind& descriptor() const = 0;
  const char* kind() const { return descriptor().name; }

  // Whether the configuration asks for this collector at all: its setting is not 0.
  virtual bool wanted(const Config& config) const {
    return config.value(descriptor().name) > 0;
  }

  // Starts collecting. Returns false (after logging one warning) if the collector cannot run
  // here; the agent then carries on without it.
  virtual bool start(const Config& config) = 0;

  // The part of starting that need not delay the program (e.g. pre-faulting the pages a
  // signal handler will write): runs once, about 2 ms after start, on the dump thread (or the
  // constructor, or a fork child, without one), so a process that ends at once (a shell's
  // `true`) never pays for it. Signal handlers may already run. Normal context.
  virtual void finish_start() {}
  // Stops collecting; data gathered so far stays readable by snapshot().
  virtual void stop() = 0;

  // Called on every new thread the program creates, on that thread, before its start routine,
  // and on that thread after it returns (or exits). Must not allocate on behalf of the host.
  virtual void on_thread_start() noexcept {}
  virtual void on_thread_exit() noexcept {}

  // For a moment the program must be the process's only thread (it changes a user, mount or
  // time namespace: agent/namespace_hooks.cc). A collector with a thread of its own ends it
  // here, keeping what it gathered, and starts it again in resume_thread (false if it could
  // not end it: the agent then resumes the others and lets the change fail as it would).
  // Normal context, on the program's thread.
  virtual bool pause_thread() { return true; }
  virtual void resume_thread() {}

  // Called in the child after fork(), on the only thread the child has, before the program
  // continues. Only async-signal-safe work here; heavy work is deferred to the next dump.
  // What the parent gathered is never freed (a parent thread may have been changing it at the
  // fork): maps are made anew in place, fixed tables the child forgets are wiped by the
  // kernel at the fork (MADV_WIPEONFORK) rather than written, so a child that execs at once
  // copies none of their pages. The default kinds' handlers store a variable only when its
  // value changes and are marked PROFAGENT_FORK_PATH (agent/core/fork_reset.h, code_layout.h).
  virtual void on_fork_child() noexcept {}
  // Whether the collector needs the dump thread at once. A fork child or a started process
  // that never asks for one (a shell's child that execs at once, its `true`, a worker that
  // only blocks) gets it only when it needs it (agent/dump_thread.h, "deferred"); a
  // collector whose own thread the dump thread's ticks start (wall) says true. Normal
  // context.
  virtual bool needs_dump_thread_at_once() const { return false; }

  // Background work on the agent's thread, about 100 ms after any collector asked for it
  // with request_collector_tick() (agent/core/wakeup.h), e.g. draining a signal handler's
  // fixed-size buffer into an aggregate before it fills. An idle process gets no ticks.
  // Normal context.
  virtual void on_tick() {}

  // A cheap and certain look ahead at a final dump: true only when snapshot() would give a
  // profile that left_out_of_dump drops (no sample; lost events are checked by the caller).
  // When every collector says so the exit dump builds nothing at all, so a short process (a
  // shell's `true`) pays no snapshot at its exit. False when unsure: snapshot() decides.
  virtual bool nothing_to_write_at_exit(const DumpRequest& /*request*/) { return false; }
  // The same known at any point an exit may run, a signal handler that interrupted malloc
  // included (no lock waited for, nothing allocated): true only when the collector gathered
  // nothing a final dump could write. A process whose dump thread is deferred then ends
  // without the stack walk that tells where its exit runs (agent.cc). False when unsure.
  // SIGNAL/HOOK-SAFE.
  virtual bool gathered_nothing() noexcept { return false; }
  // The profile to write for this dump, or nothing if there is nothing to write (the agent
  // also leaves out a final dump's empty profile: left_out_of_dump).
  // Runs on the dump thread (or the exiting thread for the final dump).
  virtual std::optional<ProfileBuilder> snapshot(const DumpRequest& request) = 0;

  // Observation windows of a kSinceLastDump kind (an HTTP /profile?seconds=N request): every
  // event recorded while a window is open is added to it, besides the dumps' own window.
  // open_window returns its id (0: this collector has no windows; the agent then observes
  // a window as the difference of two snapshots); close_window returns its profile and
  // forgets it. Normal context, any agent thread.
  virtual int open_window() { return 0; }
  virtual std::optional<ProfileBuilder> close_window(int /*id*/) { return std::nullopt; }
};

// The ProfileShape the descriptor declares (sample types with their accumulation rule,
// period type), with `period`.
inline ProfileShape shape_of(const ProfileKind& kind, int64_t period) {
  ProfileShape shape;
  for (size_t i = 0; i < kind.sample_types.size(); ++i)
    shape.sample_types.push_back({kind.sample_types[i].type, kind.sample_types[i].unit,
                                  subtracts_in_delta(kind, i) ? Accumulation::kCumulative
                                                              : Accumulation::kCurrent});
  shape.period_type = {kind.period_type, kind.period_unit};
  shape.period = period;
  return shape;
}

}  // namespace profagent
