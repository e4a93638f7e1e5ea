// The /debug/pprof/* routes (see pprof_endpoints.h): index, cmdline, profile (CPU window),
// heap/allocs/mutex/block (cumulative or delta), goroutine/threads (binary, debug=1 grouped
// text, debug=2 per-thread dump). Normal context, HTTP server thread.
#include "agent/http/pprof_endpoints.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "agent/agent.h"
#include "agent/clock.h"
#include "agent/config.h"
#include "agent/http/profile_delta.h"
#include "agent/http/request_params.h"
#include "agent/http/text_render.h"
#include "agent/pprof/profile_builder.h"
#include "collectors/cpu_collector.h"
#include "collectors/wall_collector.h"
#include "profile.pb.h"

namespace profagent {
namespace {

// Constant-initialized (the constructor runs before dynamic initializers).
std::atomic<bool> g_cpu_busy{false};
std::atomic<CpuCollector*> g_temporary_cpu{nullptr};
std::atomic<bool> g_wall_busy{false};

constexpr const char* kPrefix = "/debug/pprof/";

HttpResponse text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

EndpointResult now(HttpResponse r) {
  EndpointResult e;
  e.now = std::move(r);
  return e;
}

HttpResponse binary_profile(const std::string& encoded) {
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.attachment = true;
  r.body = gzip_compress(encoded, 1);
  return r;
}

Collector* running(const char* kind) {
  for (Collector* c : running_collectors())
    if (strcmp(c->kind(), kind) == 0) return c;
  return nullptr;
}

// What the user sets to turn a kind on (the 404 body of a kind that is off).
std::string off_message(const std::string& name, const char* kind) {
  std::string how;
  if (strcmp(kind, "heap") == 0) how = "PROFAGENT_HEAP_RATE=524288 (mean bytes between samples)";
  else if (strcmp(kind, "mutex") == 0) how = "PROFAGENT_MUTEX_FRACTION=5 (sample 1 in 5 contentions)";
  else if (strcmp(kind, "block") == 0) how = "PROFAGENT_BLOCK_RATE=10000 (ns blocked per sample)";
  else if (strcmp(kind, "threads") == 0) how = "PROFAGENT_THREADS=1";
  return "Not Found: the " + name + " profile is off in this process; start it with " + how +
         " to turn it on\n";
}

void set_default_sample_type(pprof::Profile* p, const std::string& type) {
  p->add_string_table(type);
  p->set_default_sample_type(p->string_table_size() - 1);
}

// The answer for one decoded profile: binary (gzipped) or a text form.
HttpResponse render(pprof::Profile& p, const std::string& name, int debug) {
  if (name == "allocs") set_default_sample_type(&p, "alloc_space");
  if (debug == 0) return binary_profile(p.SerializeAsString());
  if (debug == 2 && (name == "goroutine" || name == "threads"))
    return text(200, render_thread_dump(p));
  return text(200, render_grouped_text(p, name));
}

EndpointResult cpu_profile(const RequestParams& params) {
  auto* cpu = dynamic_cast<CpuCollector*>(find_collector("cpu"));
  if (cpu == nullptr) return now(text(404, "Not Found: this agent has no CPU profiler\n"));
  bool expected = false;
  if (!g_cpu_busy.compare_exchange_strong(expected, true))
    return now(text(500, "Could not enable CPU profiling: cpu profiling already in use\n"));
  bool temporary = running("cpu") == nullptr;
  if (temporary) {
    // PROFAGENT_CPU_HZ=0: timers at Go's 100 Hz for this window only.
    Config c = config();
    c.cpu_hz = 100;
    if (!cpu->start(c)) {
      g_cpu_busy.store(false);
      return now(text(500, "Could not enable CPU profiling: the CPU timers cannot start here "
                           "(see the profagent: warning on stderr)\n"));
    }
    g_temporary_cpu.store(cpu);
  }
  int id = cpu->open_window();
  PendingResponse pending;
  pending.deadline_monotonic_nanos = monotonic_nanos() + params.seconds * 1000000000LL;
  pending.finish = [cpu, id, temporary]() {
    std::optional<ProfileBuilder> b = cpu->close_window(id);
    if (temporary) {
      g_temporary_cpu.store(nullptr);
      cpu->stop();
      DumpRequest discard;  // empty the file-dump window nobody writes while CPU_HZ=0
      discard.now_unix_nanos = unix_nanos();
      discard.now_monotonic_nanos = monotonic_nanos();
      cpu->snapshot(discard);
    }
    g_cpu_busy.store(false);
    if (!b) return text(500, "Internal Server Error: the CPU window was lost\n");
    return binary_profile(encode_profile(*b));
  };
  EndpointResult e;
  e.later = std::move(pending);
  return e;
}

// /debug/pprof/wall?seconds=N: the wall-clock profile of the next N s, as /profile is for CPU.
// With PROFAGENT_WALL_HZ=0 the sampler runs at 100 Hz for that window only.
EndpointResult wall_profile(const RequestParams& params) {
  auto* wall = dynamic_cast<WallCollector*>(find_collector("wall"));
  if (wall == nullptr) return now(text(404, "Not Found: this agent has no wall-clock profiler\n"));
  bool expected = false;
  if (!g_wall_busy.compare_exchange_strong(expected, true))
    return now(text(500, "Could not enable wall profiling: wall profiling already in use\n"));
  bool temporary = running("wall") == nullptr && !wall->running();
  if (temporary) {
    Config c = config();
    c.wall_hz = 100;
    if (!wall->start(c)) {
      g_wall_busy.store(false);
      return now(text(500, "Could not enable wall profiling: the sampler cannot start here "
                           "(see the profagent: warning on stderr)\n"));
    }
  }
  int id = wall->open_window();
  PendingResponse pending;
  pending.deadline_monotonic_nanos = monotonic_nanos() + params.seconds * 1000000000LL;
  pending.finish = [wall, id, temporary]() {
    std::optional<ProfileBuilder> b = wall->close_window(id);
    if (temporary) wall->stop();
    g_wall_busy.store(false);
    if (!b) return text(500, "Internal Server Error: the wall window was lost\n");
    return binary_profile(encode_profile(*b));
  };
  EndpointResult e;
  e.later = std::move(pending);
  return e;
}

bool decode(const std::string& bytes, pprof::Profile* p) { return p->ParseFromString(bytes); }

EndpointResult snapshot_profile(const std::string& name, const char* kind,
                                const RequestParams& params) {
  Collector* c = running(kind);
  if (c == nullptr) return now(text(404, off_message(name, kind)));
  if (params.seconds > 0 && strcmp(kind, "threads") == 0)
    return now(text(400, "Bad Request: seconds is not supported for the " + name +
                             " profile (it is a snapshot, not a counter)\n"));
  std::optional<std::string> first = snapshot_encoded(*c);
  if (!first) return now(text(500, "Internal Server Error: the " + name +
                                       " profile has nothing to write\n"));
  if (params.seconds == 0) {
    if (params.debug == 0 && name != "allocs") return now(binary_profile(*first));
    pprof::Profile p;
    if (!decode(*first, &p)) return now(text(500, "Internal Server Error: bad profile\n"));
    return now(render(p, name, params.debug));
  }
  PendingResponse pending;
  pending.deadline_monotonic_nanos = monotonic_nanos() + params.seconds * 1000000000LL;
  pending.finish = [c, name, first = std::move(*first), debug = params.debug]() {
    std::optional<std::string> second = snapshot_encoded(*c);
    pprof::Profile before, after, delta;
    if (!second || !decode(first, &before) || !decode(*second, &after) ||
        !subtract_profiles(before, after, &delta))
      return text(500, "Internal Server Error: cannot take the second " + name + " snapshot\n");
    return render(delta, name, debug);
  };
  EndpointResult e;
  e.later = std::move(pending);
  return e;
}

std::string read_cmdline() {
  std::string out;
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0 && out.size() < (1u << 20)) out.append(buf, n);
  close(fd);
  if (!out.empty() && out.back() == '\0') out.pop_back();
  return out;  // arguments separated by NUL, as Go's /debug/pprof/cmdline
}

struct IndexEntry {
  const char* name;
  const char* kind;  // collector kind, nullptr = always there
  const char* description;
};

constexpr IndexEntry kIndex[] = {
    {"allocs", "heap", "A sampling of all past memory allocations (alloc_space by default)"},
    {"block", "block", "Stack traces that led to blocking on synchronization primitives"},
    {"cmdline", nullptr, "The command line invocation of the current program"},
    {"goroutine", "threads", "Stack traces of all current threads (the native goroutines)"},
    {"heap", "heap", "A sampling of memory allocations of live objects"},
    {"mutex", "mutex", "Stack traces of holders of contended mutexes"},
    {"profile", "cpu", "CPU profile; seconds=N sets the window (default 30, at most 300)"},
    {"threads", "threads", "Same as goroutine: every thread's stack"},
    {"wall", "wall", "Wall-clock profile of every thread, running or blocked (state, syscall "
                     "labels); seconds=N sets the window (default 30, at most 300)"},
};

HttpResponse index_page() {
  std::string h =
      "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n"
      "<p>Set debug=1 as a query parameter to export in text format</p>\n"
      "<br>\nTypes of profiles available:\n<table>\n<thead><td>State</td><td>Profile</td>"
      "</thead>\n";
  for (const IndexEntry& e : kIndex) {
    bool on = e.kind == nullptr || running(e.kind) != nullptr ||
              strcmp(e.kind, "cpu") == 0 ||  // CPU windows run even with CPU_HZ=0
              strcmp(e.kind, "wall") == 0;   // and wall windows with WALL_HZ=0
    std::string n = e.name;
    std::string link = (n == "profile" || n == "cmdline" || n == "wall") ? n : n + "?debug=1";
    h += "<tr><td>" + std::string(on ? "on" : "off") + "</td><td><a href='" + link + "'>" + n +
         "</a></td></tr>\n";
  }
  h += "</table>\n<a href='goroutine?debug=2'>full thread stack dump</a>\n<br>\n"
       "<p>\nProfile Descriptions:\n<ul>\n";
  for (const IndexEntry& e : kIndex)
    h += "<li><div class=profile-name>" + std::string(e.name) + ": </div> " + e.description +
         "</li>\n";
  h += "</ul>\n</p>\n</body>\n</html>\n";
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::move(h);
  return r;
}

}  // namespace

EndpointResult handle_pprof_request(const std::string& path, const char* seconds,
                                    const char* debug) {
  if (path == "/debug/pprof" || path == "/debug/pprof/") return now(index_page());
  if (path.rfind(kPrefix, 0) != 0) return now(text(404, "404 page not found\n"));
  std::string name = path.substr(strlen(kPrefix));
  if (name == "cmdline") return now(text(200, read_cmdline()));

  const char* kind = nullptr;
  if (name == "profile") kind = "cpu";
  else if (name == "heap" || name == "allocs") kind = "heap";
  else if (name == "mutex") kind = "mutex";
  else if (name == "block") kind = "block";
  else if (name == "goroutine" || name == "threads") kind = "threads";
  else if (name == "wall") kind = "wall";
  if (kind == nullptr) return now(text(404, "Unknown profile\n"));

  bool window = strcmp(kind, "cpu") == 0 || strcmp(kind, "wall") == 0;
  ParamResult parsed = parse_request_params(seconds, debug, window);
  if (!parsed.params) return now(text(400, parsed.error));
  if (strcmp(kind, "cpu") == 0) return cpu_profile(*parsed.params);
  if (strcmp(kind, "wall") == 0) return wall_profile(*parsed.params);
  return snapshot_profile(name, kind, *parsed.params);
}

bool temporary_cpu_window_open() { return g_temporary_cpu.load() != nullptr; }

void tick_temporary_cpu_window() {
  if (CpuCollector* cpu = g_temporary_cpu.load()) cpu->on_tick();
}

}  // namespace profagent
