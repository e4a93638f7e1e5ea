// The /debug/pprof/* routes (see pprof_endpoints.h): the index, cmdline, and every route a
// profile kind's descriptor declares (agent/core/profile_kind.h): a kSinceLastDump kind (CPU)
// answers with an observation window, a kSinceStart kind with its cumulative profile or,
// with ?seconds=N, the window's delta, a kSnapshot kind with its state now; debug=1 grouped
// text, debug=2 a per-thread dump for the kinds that have one. Kinds are reached through
// the agent's API only (agent.h). Normal context, HTTP server thread.
#include "agent/output/http/pprof_endpoints.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "agent/agent.h"
#include "agent/core/clock.h"
#include "agent/output/http/request_params.h"
#include "agent/output/http/text_render.h"
#include "agent/profile/pprof/profile_builder.h"
#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent {
namespace {

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

// A route of a kind: the path name, its descriptor and the route's own facts.
struct Route {
  const ProfileKind* kind = nullptr;
  const HttpRoute* route = nullptr;
};

std::optional<Route> find_route(const std::string& name) {
  for (const ProfileKind* k : known_kinds())
    for (const HttpRoute& r : k->routes)
      if (name == r.name) return Route{k, &r};
  return std::nullopt;
}

// What the user sets to turn a kind on (the 404 body of a kind that is off).
std::string off_message(const std::string& name, const ProfileKind& kind) {
  return "Not Found: the " + name + " profile is off in this process; start it with " +
         kind.enable_hint + " to turn it on\n";
}

// The answer for one profile: binary (gzipped) or a text form.
HttpResponse render(ProfileBuilder b, const std::string& name, const Route& route, int debug) {
  if (route.route->default_sample_type != nullptr)
    b.set_default_sample_type(route.route->default_sample_type);
  SymbolizedProfile p = symbolize_for_output(std::move(b));
  if (debug == 0) return binary_profile(p.encode());
  if (debug == 2 && route.kind->thread_dump_text) return text(200, render_thread_dump(p));
  return text(200, render_grouped_text(p, name));
}

// A kSinceLastDump kind: a window of `seconds`, answered when it ends.
EndpointResult window_profile(const Route& route, const RequestParams& params) {
  WindowStart started = start_window(*route.kind);
  if (started.id == 0) return now(text(500, started.error + "\n"));
  PendingResponse pending;
  pending.deadline_monotonic_nanos = monotonic_nanos() + params.seconds * 1000000000LL;
  pending.finish = [id = started.id, name = std::string(route.kind->name)]() {
    std::optional<ProfileBuilder> profile = end_window(id);
    if (!profile) return text(500, "Internal Server Error: the " + name + " window was lost\n");
    return binary_profile(symbolize_for_output(std::move(*profile)).encode());
  };
  EndpointResult e;
  e.later = std::move(pending);
  return e;
}

EndpointResult snapshot_profile(const std::string& name, const Route& route,
                                const RequestParams& params) {
  const ProfileKind& kind = *route.kind;
  if (!kind_running(kind)) return now(text(404, off_message(name, kind)));
  if (params.seconds > 0 && kind.window == ProfileWindow::kSnapshot)
    return now(text(400, "Bad Request: seconds is not supported for the " + name +
                             " profile (it is a snapshot, not a counter)\n"));
  if (params.seconds == 0) {
    std::optional<ProfileBuilder> first = snapshot_kind(kind);
    if (!first) return now(text(500, "Internal Server Error: the " + name +
                                         " profile has nothing to write\n"));
    return now(render(std::move(*first), name, route, params.debug));
  }
  WindowStart started = start_window(kind);
  if (started.id == 0)
    return now(text(500, "Internal Server Error: " + started.error + "\n"));
  PendingResponse pending;
  pending.deadline_monotonic_nanos = monotonic_nanos() + params.seconds * 1000000000LL;
  pending.finish = [id = started.id, name, route, debug = params.debug]() {
    std::optional<ProfileBuilder> delta = end_window(id);
    if (!delta)
      return text(500, "Internal Server Error: cannot take the second " + name + " snapshot\n");
    return render(std::move(*delta), name, route, debug);
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
  std::string name;
  const ProfileKind* kind;  // nullptr = always there (cmdline)
  std::string description;
};

// Every kind's routes and cmdline, in name order as Go lists them.
std::vector<IndexEntry> index_entries() {
  std::vector<IndexEntry> entries = {
      {"cmdline", nullptr, "The command line invocation of the current program"}};
  for (const ProfileKind* k : known_kinds())
    for (const HttpRoute& r : k->routes) entries.push_back({r.name, k, r.description});
  std::sort(entries.begin(), entries.end(),
            [](const IndexEntry& a, const IndexEntry& b) { return a.name < b.name; });
  return entries;
}

HttpResponse index_page() {
  std::vector<IndexEntry> entries = index_entries();
  std::string h =
      "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n"
      "<p>Set debug=1 as a query parameter to export in text format</p>\n"
      "<br>\nTypes of profiles available:\n<table>\n<thead><td>State</td><td>Profile</td>"
      "</thead>\n";
  std::string thread_dump;
  for (const IndexEntry& e : entries) {
    // A windowed kind that can run on demand is there even when off (CPU with CPU_HZ=0).
    bool on = e.kind == nullptr || kind_running(*e.kind) ||
              (e.kind->window == ProfileWindow::kSinceLastDump &&
               e.kind->setting.on_demand_value > 0);
    bool windowed = e.kind != nullptr && e.kind->window == ProfileWindow::kSinceLastDump;
    std::string link = (windowed || e.kind == nullptr) ? e.name : e.name + "?debug=1";
    h += "<tr><td>" + std::string(on ? "on" : "off") + "</td><td><a href='" + link + "'>" +
         e.name + "</a></td></tr>\n";
    if (thread_dump.empty() && e.kind != nullptr && e.kind->thread_dump_text)
      thread_dump = e.name;
  }
  h += "</table>\n";
  if (!thread_dump.empty())
    h += "<a href='" + thread_dump + "?debug=2'>full thread stack dump</a>\n<br>\n";
  h += "<p>\nProfile Descriptions:\n<ul>\n";
  for (const IndexEntry& e : entries)
    h += "<li><div class=profile-name>" + e.name + ": </div> " + e.description + "</li>\n";
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

  std::optional<Route> route = find_route(name);
  if (!route) return now(text(404, "Unknown profile\n"));
  bool windowed = route->kind->window == ProfileWindow::kSinceLastDump;
  ParamResult parsed = parse_request_params(seconds, debug, windowed);
  if (!parsed.params) return now(text(400, parsed.error));
  if (windowed) return window_profile(*route, *parsed.params);
  return snapshot_profile(name, *route, *parsed.params);
}

}  // namespace profagent
