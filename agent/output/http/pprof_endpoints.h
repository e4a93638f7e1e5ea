// The /debug/pprof/* routes of the live endpoint, as Go's net/http/pprof serves them: what a
// request for a path and parameters answers, independent of the HTTP library. A request
// that observes a window (profile?seconds=N, heap?seconds=N...) answers later: it hands back
// a deadline and the work to finish it, which the server runs when the deadline passes.
// Normal context, on the HTTP server thread; profiles are encoded through the agent's
// dump lock (agent.h), so this never races a file dump.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace profagent {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  bool attachment = false;  // Content-Disposition: attachment; filename="profile" (Go's)
};

struct PendingResponse {
  int64_t deadline_monotonic_nanos = 0;
  std::function<HttpResponse()> finish;
};

struct EndpointResult {
  std::optional<HttpResponse> now;     // answer at once, or ...
  std::optional<PendingResponse> later;  // ... after the deadline
};

// `path` is the URL path without the query; seconds/debug are the raw query values
// (nullptr when absent).
EndpointResult handle_pprof_request(const std::string& path, const char* seconds,
                                    const char* debug);

}  // namespace profagent
