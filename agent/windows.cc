// Observation windows of a profile kind (agent.h): started, read and ended by the outputs
// (an HTTP ?seconds=N request), never touching a collector themselves. A kSinceLastDump
// kind's collector keeps the window (started for its length when the kind is off); a
// kSinceStart kind's window is the delta of a snapshot at the start and one at the read.
// Collectors started only for a window are ticked by the dump thread (tick_collectors).
// Normal context, any agent thread.
#include <map>
#include <mutex>
#include <vector>

#include "agent/agent.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/http/profile_delta.h"
#include "profile.pb.h"

namespace profagent {
namespace {

struct OpenWindow {
  const ProfileKind* kind = nullptr;
  Collector* collector = nullptr;
  int collector_window = 0;  // the collector's own window id (kSinceLastDump)
  bool started_for_window = false;
  std::string baseline;      // the snapshot at the start (kSinceStart)
};

// Allocated once, never freed (windows may be ended while the program exits).
struct Windows {
  std::mutex mutex;  // guards everything below; never held across a snapshot or an encoding
  std::map<int, OpenWindow> open;
  std::vector<Collector*> window_only;  // collectors running only for an open window
  std::vector<const ProfileKind*> busy;  // kSinceLastDump kinds with a window open
  int next_id = 1;
};

Windows& windows() {
  static Windows* w = new Windows;
  return *w;
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

// The delta of `now` against `baseline` under the kind's accumulation rule.
std::optional<std::string> delta(const std::string& baseline, const std::string& now) {
  pprof::Profile before, after, out;
  if (!before.ParseFromString(baseline) || !after.ParseFromString(now) ||
      !subtract_profiles(before, after, &out))
    return std::nullopt;
  return out.SerializeAsString();
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
  std::optional<std::string> baseline = snapshot_kind(kind);
  if (!baseline) {
    result.error = "the " + name + " profile has nothing to write";
    return result;
  }
  std::lock_guard<std::mutex> lock(w.mutex);
  result.id = w.next_id++;
  w.open.emplace(result.id, OpenWindow{&kind, nullptr, 0, false, std::move(*baseline)});
  return result;
}

std::optional<std::string> read_window(int id) {
  Windows& w = windows();
  std::string baseline;
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
  if (b) return encode_profile(*b);  // takes the dump lock: never under w.mutex
  std::optional<std::string> now = snapshot_kind(*kind);
  if (!now) return std::nullopt;
  return delta(baseline, *now);
}

std::optional<std::string> end_window(int id) {
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
  if (open.collector != nullptr) {
    if (!b) return std::nullopt;
    return encode_profile(*b);
  }
  std::optional<std::string> now = snapshot_kind(*open.kind);
  if (!now) return std::nullopt;
  return delta(open.baseline, *now);
}

void tick_collectors() {
  for (Collector* c : running_collectors()) c->on_tick();
  Windows& w = windows();
  std::lock_guard<std::mutex> lock(w.mutex);
  for (Collector* c : w.window_only) c->on_tick();
}

}  // namespace profagent
