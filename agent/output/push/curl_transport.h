// The push path's HTTP client: libcurl, loaded with dlopen on the push thread the first time
// a profile is pushed, so a program that does not push never has libcurl, OpenSSL and their
// dependencies mapped into it. One easy handle, reused (keep-alive). CURLOPT_NOSIGNAL is set
// (no SIGALRM for DNS timeouts), and OpenSSL is initialised without its atexit cleanup so a
// program's exit never frees TLS state under a request in flight. Normal context, push
// thread only.
#pragma once

#include <cstdint>
#include <string>

#include "agent/output/push/ingest_request.h"

namespace profagent {

struct PostResult {
  int status = 0;      // HTTP status, 0 when no answer came (refused, reset, timeout)
  std::string error;   // what went wrong, for the log ("" on 2xx)
};

class CurlTransport {
 public:
  CurlTransport() = default;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  // Loads libcurl.so.4 (once). False, with the reason, if it cannot be used.
  bool load(std::string* why);

  // POSTs `request`; gives up after `timeout_ms` in all (`connect_timeout_ms` to connect).
  PostResult post(const IngestRequest& request, long timeout_ms, long connect_timeout_ms);

 private:
  struct Api;
  Api* api_ = nullptr;   // resolved functions; never freed (the library stays loaded)
  void* easy_ = nullptr; // CURL*
};

}  // namespace profagent
