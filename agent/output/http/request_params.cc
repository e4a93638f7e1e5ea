// Checking of the seconds/debug query parameters (see request_params.h). Normal context.
#include "agent/output/http/request_params.h"

#include <cctype>
#include <cstring>

namespace profagent {
namespace {

// A whole decimal number (at most 12 digits, so no overflow); nullopt otherwise.
std::optional<int64_t> parse_whole(const char* s) {
  size_t n = strlen(s);
  if (n == 0 || n > 12) return std::nullopt;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

ParamResult parse_request_params(const char* seconds, const char* debug, bool windowed) {
  ParamResult r;
  RequestParams p;
  if (windowed) p.seconds = kDefaultWindowSeconds;
  if (seconds != nullptr) {
    auto v = parse_whole(seconds);
    if (!v) {
      r.error = "Bad Request: seconds='" + std::string(seconds).substr(0, 40) +
                "' is not a whole number of seconds\n";
      return r;
    }
    if (*v > kMaxProfileSeconds) {
      r.error = "Bad Request: seconds=" + std::to_string(*v) + " exceeds the maximum of " +
                std::to_string(kMaxProfileSeconds) + " seconds\n";
      return r;
    }
    if (*v == 0 && windowed) {
      r.error = "Bad Request: seconds must be at least 1 for a CPU profile\n";
      return r;
    }
    p.seconds = *v;
  }
  if (debug != nullptr) {
    auto v = parse_whole(debug);
    if (!v || *v > 2) {
      r.error = "Bad Request: debug='" + std::string(debug).substr(0, 40) +
                "' is not 0, 1 or 2\n";
      return r;
    }
    p.debug = static_cast<int>(*v);
  }
  r.params = p;
  return r;
}

}  // namespace profagent
