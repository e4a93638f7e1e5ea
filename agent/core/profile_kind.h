// The descriptor of one profile kind: every fact about a kind that the rest of the agent
// needs (file suffix, sample types and units, what the numbers cover, HTTP routes, the
// variable that turns it on, Pyroscope units, the lost-event frame). Each collector owns
// its kind's descriptor; the registry lists them; config, the dump path, HTTP, push,
// self-accounting and the wrapper script read them, so nothing outside a collector names a
// kind. Plain constant data: usable in any context (the lost counters are
// HOOK/SIGNAL-SAFE atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>

namespace profagent {

// What the numbers of one file of this kind cover (docs/pprof-semantics.md §4).
enum class ProfileWindow {
  kSinceLastDump,  // events since the previous dump (Time and Duration set): cpu
  kSinceStart,     // counters since the process started, as Go writes them: heap, mutex...
  kSnapshot,       // the state at the dump, nothing accumulated: threads
};

struct SampleTypeSpec {
  const char* type;  // pprof sample type, e.g. "alloc_space"
  const char* unit;  // pprof unit, e.g. "bytes"
  // A level measured at the dump (in-use memory, live threads), not a count of events that
  // accumulates over the window: a delta keeps the later value; Pyroscope averages it.
  bool instantaneous;
  const char* push_units;         // Pyroscope units ("samples", "lock_nanoseconds", ...)
  const char* push_display_name;  // Pyroscope display name, nullptr = the type
  bool push_sampled;              // Pyroscope "sampled": true (CPU)
};

// One /debug/pprof/<name> route that serves this kind.
struct HttpRoute {
  const char* name;                 // path below /debug/pprof/
  const char* description;          // the index page's line
  const char* default_sample_type;  // written as the default sample type, nullptr = none
};

// The environment variable that turns the kind on and sets its rate; 0 is off.
struct KindSetting {
  const char* env;        // "PROFAGENT_HEAP_RATE"
  int64_t min, max;       // accepted whole numbers (a boolean setting takes 0 or 1)
  int64_t default_value;  // when unset or bad
  bool boolean;           // takes 0/1, true/false, yes/no, on/off
  const char* expected;   // warning text: "a whole number from 0 to 4000"
  const char* fallback;   // warning text: "100"
  // The value a kind that is off runs at for the length of an observation window (an HTTP
  // /profile request with PROFAGENT_CPU_HZ=0), 0 = no window while off.
  int64_t on_demand_value;
};

// Events a collector could not record (table full, unwinding failed), since the start.
struct LostCounter {
  std::atomic<uint64_t> events{0};
  std::atomic<int64_t> weight{0};  // their total in the kind's second value, when known
};

struct ProfileKind {
  const char* name;  // file suffix (<exe>.<pid>.<seq>.<name>.pb.gz) and the kind's name
  std::span<const SampleTypeSpec> sample_types;
  const char* period_type;
  const char* period_unit;
  ProfileWindow window;
  std::span<const HttpRoute> routes;
  bool thread_dump_text;  // ?debug=2 is a per-thread dump (goroutine?debug=2) not grouped text
  KindSetting setting;
  const char* enable_hint;     // "PROFAGENT_HEAP_RATE=524288 (mean bytes between samples)"
  const char* wrapper_option;  // the scripts/profagent option setting `setting.env`
  const char* lost_frame;      // function name of the synthetic lost-events sample
  // Lost events written by self-accounting as a `lost_frame` sample; nullptr when the
  // collector writes its own (CPU counts them in its sample buffer, per window).
  LostCounter* lost;
};

// A delta between two profiles of `kind` subtracts value `i` (a counter since start) rather
// than keeping the later value (a level).
inline bool subtracts_in_delta(const ProfileKind& kind, size_t i) {
  return kind.window == ProfileWindow::kSinceStart && i < kind.sample_types.size() &&
         !kind.sample_types[i].instantaneous;
}

}  // namespace profagent
