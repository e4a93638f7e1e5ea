// Query parameters of the /debug/pprof endpoints (Go's net/http/pprof names and meanings):
// seconds (profile window or delta), debug (0 binary, 1 grouped text, 2 per-thread text),
// checked and bounded before any work starts. Normal context; pure, unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace profagent {

// Longest window a request may ask for; a longer one is refused (Go refuses seconds beyond
// its server's WriteTimeout the same way) so no request holds a connection for long.
constexpr int64_t kMaxProfileSeconds = 300;
// /debug/pprof/profile without seconds= (Go's default).
constexpr int64_t kDefaultWindowSeconds = 30;

struct RequestParams {
  int64_t seconds = 0;  // 0 = not given (cumulative for heap/mutex/block)
  int debug = 0;        // 0, 1 or 2
};

struct ParamResult {
  std::optional<RequestParams> params;
  std::string error;  // set when params is empty: the 400 body
};

// `seconds` and `debug` as the raw query values (nullptr when absent). `windowed` selects
// the rules of a kind observed over a window (/profile): seconds defaults to 30 and must be
// positive.
ParamResult parse_request_params(const char* seconds, const char* debug, bool windowed);

}  // namespace profagent
