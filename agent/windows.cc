// Observation windows of a profile kind (agent.h): started, read and ended by the outputs
// (an HTTP ?seconds=N request), never touching a collector themselves. A kSinceLastDump
// kind's collector keeps the window (started for its length when the kind is off); a
// kSinceStart kind's window is the delta of a snapshot at the start and one at the read.
// Collectors started only for a window are ticked by the dump thread (tick_collectors).
// Normal context, any agent thread.
#include <atomic>
#include <map>
#include <mutex>
#include <new>
#include <vector>

#include "agent/agent.h"
#include "agent/core/clock.h"
#include "agent/core/config.h"
#include "agent/core/published_once.h"
#include "agent/profile/pprof/profile_delta.h"
#include "agent/core/code_layout.h"
#include "agent/runtime/signal_mask.h"

namespace profagent {
namespace {

struct OpenWindow {
  const ProfileKind* kind = nullptr;
  Collector* collector = nullptr;
  int collector_window = 0;  // the collector's own window id (kSinceLastDump)
  bool started_for_window = false;
  std::optional<ProfileBuilder> baseline;  // the snapshot at the start (kSinceStart)
};

// Allocated once, never freed (windows may be ended while the program exits).
struct Windows {
  std::mutex mutex;  // guards everything below; never held across a snapshot or an encoding
  std::map<int, OpenWindow> open;
  std::vector<Collector*> window_only;  // collectors running only for an open window
  std::vector<const ProfileKind*> busy;  // kSinceLastDump kinds with a window open
  int next_id = 1;
};

std::atomic<Windows*> g_windows{nullptr};

Windows& windows() {
  return published_once(g_windows, [] { return new Windows; });
}

bool contains(const std::vector<const ProfileKind*>& v, const ProfileKind* k) {
  for (const ProfileKind* x : v)
    if (x == k) return true;
  return false;
}

std::string upper(const char* s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

WindowStart collector_window(Windows& w, const ProfileKind& kind) {
  Collector* c = find_collector(kind);
  WindowStart result;
  std::string name = kind.name;
  if (c == nullptr) {
    result.error = "this agent has no " + name + " profiler";
    return result;
  }
  std::unique_lock<std::mutex> lock(w.mutex);
  if (contains(w.busy, &kind)) {
    // Go's words for a second concurrent CPU profile.
    result.error = "Could not enable " + upper(kind.name) + " profiling: " + name +
                   " profiling already in use";
    return result;
  }
  bool temporary = !kind_running(kind);
  if (temporary) {
    if (kind.setting.on_demand_value == 0) {
      result.error = "the " + name + " profile is off in this process";
      return result;
    }
    Config c_config = config();
    c_config.kind_values[kind.name] = kind.setting.on_demand_value;
    if (!c->start(c_config)) {
      result.error = "Could not enable " + upper(kind.name) + " profiling: the " + name +
                     " profiler cannot start here (see the profagent: warning on stderr)";
      return result;
    }
    w.window_only.push_back(c);
  }
  int own = c->open_window();
  w.busy.push_back(&kind);
  OpenWindow open{&kind, c, own, temporary, {}};
  result.id = w.next_id++;
  w.open.emplace(result.id, std::move(open));
  return result;
}

// Ends a collector-kept window (under w.mutex): its profile, and the collector stopped if it
// ran only for it.
std::optional<ProfileBuilder> close_collector_window(Windows& w, const OpenWindow& open) {
  std::optional<ProfileBuilder> b = open.collector->close_window(open.collector_window);
  if (open.started_for_window) {
    open.collector->stop();
    std::erase(w.window_only, open.collector);
    DumpRequest discard;  // empty the file-dump window nobody writes while the kind is off
    discard.now_unix_nanos = unix_nanos();
    discard.now_monotonic_nanos = monotonic_nanos();
    open.collector->snapshot(discard);
  }
  std::erase(w.busy, open.kind);
  return b;
}

}  // namespace

WindowStart start_window(const ProfileKind& kind) {
  Windows& w = windows();
  if (kind.window == ProfileWindow::kSinceLastDump) return collector_window(w, kind);
  WindowStart result;
  std::string name = kind.name;
  if (kind.window == ProfileWindow::kSnapshot) {
    result.error = "the " + name + " profile is a snapshot, not a counter";
    return result;
  }
  std::optional<ProfileBuilder> baseline = snapshot_kind(kind);
  if (!baseline) {
    result.error = "the " + name + " profile has nothing to write";
    return result;
  }
  std::lock_guard<std::mutex> lock(w.mutex);
  result.id = w.next_id++;
  w.open.emplace(result.id, OpenWindow{&kind, nullptr, 0, false, std::move(baseline)});
  return result;
}

std::optional<ProfileBuilder> read_window(int id) {
  Windows& w = windows();
  std::optional<ProfileBuilder> baseline;
  const ProfileKind* kind = nullptr;
  std::optional<ProfileBuilder> b;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    auto it = w.open.find(id);
    if (it == w.open.end()) return std::nullopt;
    OpenWindow& open = it->second;
    if (open.collector == nullptr) {
      baseline = open.baseline;
      kind = open.kind;
    } else {
      // A collector's window is read by closing it and opening a fresh one that goes on
      // from here; the read covers the window so far, the rest joins it at the end.
      b = open.collector->close_window(open.collector_window);
      int fresh = open.collector->open_window();
      if (b) open.collector_window = fresh;
      if (!b) return std::nullopt;
    }
  }
  if (b) return b;
  // The snapshot takes the dump lock: never under w.mutex. The delta follows each sample
  // type's accumulation rule (the descriptor's, through the collector's shape).
  std::optional<ProfileBuilder> now = snapshot_kind(*kind);
  if (!now || !baseline) return std::nullopt;
  return profile_delta(*baseline, *now);
}

std::optional<ProfileBuilder> end_window(int id) {
  Windows& w = windows();
  OpenWindow open;
  std::optional<ProfileBuilder> b;
  {
    std::lock_guard<std::mutex> lock(w.mutex);
    auto it = w.open.find(id);
    if (it == w.open.end()) return std::nullopt;
    open = std::move(it->second);
    w.open.erase(it);
    if (open.collector != nullptr) b = close_collector_window(w, open);
  }
  if (open.collector != nullptr) return b;
  std::optional<ProfileBuilder> now = snapshot_kind(*open.kind);
  if (!now || !open.baseline) return std::nullopt;
  return profile_delta(*open.baseline, *now);
}

PROFAGENT_FORK_PATH void forget_windows_after_fork() {
  // The parent's windows belong to its HTTP thread, which the child does not have; its
  // state (and mutex) may be mid-change: left alone, the child starts with none.
  // (Out of memory: none, made at the first use, in normal context.)
  if (g_windows.load() != nullptr) g_windows.store(new (std::nothrow) Windows);
}

void tick_collectors() {
  forget_ended_sigprof_holders();
  for (Collector* c : running_collectors()) c->on_tick();
  Windows& w = windows();
  std::lock_guard<std::mutex> lock(w.mutex);
  for (Collector* c : w.window_only) c->on_tick();
}

}  // namespace profagent
