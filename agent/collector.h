// The one interface every profile kind implements (after async-profiler's Engine): the agent
// core starts, stops, forks and dumps all collectors the same way. Normal context only; the
// hook/handler halves of a collector live in their own files.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "agent/config.h"
#include "agent/pprof/profile_builder.h"

namespace profagent {

// What a dump asks of a collector.
struct DumpRequest {
  int64_t now_unix_nanos = 0;     // wall clock at the dump (Profile.time_nanos for snapshots)
  int64_t now_monotonic_nanos = 0;
  uint64_t seq = 0;               // this process's dump number, from 1
  bool final = false;             // the dump at exit or on a termination signal
};

class Collector {
 public:
  virtual ~Collector() = default;

  // File kind: "cpu", "heap", "mutex", "block", "threads".
  virtual const char* kind() const = 0;

  // Whether the configuration asks for this collector at all.
  virtual bool wanted(const Config& config) const = 0;

  // Starts collecting. Returns false (after logging one warning) if the collector cannot run
  // here; the agent then carries on without it.
  virtual bool start(const Config& config) = 0;

  // Stops collecting; data gathered so far stays readable by snapshot().
  virtual void stop() = 0;

  // Called on every new thread the program creates, on that thread, before its start routine,
  // and on that thread after it returns (or exits). Must not allocate on behalf of the host.
  virtual void on_thread_start() noexcept {}
  virtual void on_thread_exit() noexcept {}

  // Called in the child after fork(), on the only thread the child has, before the program
  // continues. Only async-signal-safe work here; heavy work is deferred to the next dump.
  virtual void on_fork_child() noexcept {}

  // Background work on the agent's thread, about 100 ms after any collector asked for it
  // with request_collector_tick() (agent/dump_thread.h), e.g. draining a signal handler's
  // fixed-size buffer into an aggregate before it fills. An idle process gets no ticks.
  // Normal context.
  virtual void on_tick() {}

  // The profile to write for this dump, or nothing if there is nothing to write.
  // Runs on the dump thread (or the exiting thread for the final dump).
  virtual std::optional<ProfileBuilder> snapshot(const DumpRequest& request) = 0;
};

}  // namespace profagent
