// One Pyroscope ingest request, built as bytes: POST <url>/ingest?name=<app{labels}>&
// from=<unix s>&until=<unix s>&format=pprof&spyName=profagent with a multipart/form-data
// body holding the gzipped profile ("profile", file profile.pprof) and, when known, the
// JSON "sample_type_config" part. Pure functions (no I/O), normal context.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace profagent {

struct IngestRequest {
  std::string url;           // full URL with the query
  std::string content_type;  // multipart/form-data; boundary=...
  std::string body;
  // Basic authentication, from the push URL's user:password@ (never part of `url`).
  std::string user;
  std::string password;
};

// Percent-encoding of a query value (RFC 3986 unreserved characters stay as they are).
std::string url_encode(std::string_view text);

// A multipart boundary from `seed`, e.g. "profagent-5f3a...": never found in a body, since
// build_ingest_request checks and picks another if it is.
std::string make_boundary(uint64_t seed);

// `base_url` is PROFAGENT_PUSH_URL (no trailing '/'); times are Unix seconds.
IngestRequest build_ingest_request(const std::string& base_url, const std::string& name,
                                   int64_t from_unix_seconds, int64_t until_unix_seconds,
                                   std::string_view profile_gzipped,
                                   std::string_view sample_type_config, uint64_t seed);

}  // namespace profagent
