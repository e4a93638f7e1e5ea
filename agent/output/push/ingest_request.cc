// Ingest request construction (ingest_request.h): query string and multipart body in the
// shape Pyroscope's /ingest handler reads (form fields "profile" and "sample_type_config",
// as pyroscope-go writes them).
#include "agent/output/push/ingest_request.h"

#include <cctype>
#include <cstdio>

namespace profagent {
namespace {

void append_part(std::string& body, const std::string& boundary, const char* field,
                 const char* filename, const char* type, std::string_view content) {
  body += "--" + boundary + "\r\n";
  body += std::string("Content-Disposition: form-data; name=\"") + field + "\"; filename=\"" +
          filename + "\"\r\n";
  body += std::string("Content-Type: ") + type + "\r\n\r\n";
  body.append(content.data(), content.size());
  body += "\r\n";
}

}  // namespace

std::string url_encode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string make_boundary(uint64_t seed) {
  // splitmix64, so consecutive seeds give unrelated boundaries.
  uint64_t z = seed + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  char buf[48];
  snprintf(buf, sizeof buf, "profagent-%016llx", static_cast<unsigned long long>(z));
  return buf;
}

IngestRequest build_ingest_request(const std::string& base_url, const std::string& name,
                                   int64_t from_unix_seconds, int64_t until_unix_seconds,
                                   std::string_view profile_gzipped,
                                   std::string_view sample_type_config, uint64_t seed) {
  IngestRequest request;
  request.url = base_url + "/ingest?name=" + url_encode(name) +
                "&from=" + std::to_string(from_unix_seconds) +
                "&until=" + std::to_string(until_unix_seconds) +
                "&format=pprof&spyName=profagent";
  std::string boundary = make_boundary(seed);
  while (profile_gzipped.find(boundary) != std::string_view::npos ||
         sample_type_config.find(boundary) != std::string_view::npos)
    boundary = make_boundary(++seed);
  request.content_type = "multipart/form-data; boundary=" + boundary;
  request.body.reserve(profile_gzipped.size() + sample_type_config.size() + 512);
  append_part(request.body, boundary, "profile", "profile.pprof", "application/octet-stream",
              profile_gzipped);
  if (!sample_type_config.empty())
    append_part(request.body, boundary, "sample_type_config", "sample_type_config.json",
                "application/json", sample_type_config);
  request.body += "--" + boundary + "--\r\n";
  return request;
}

}  // namespace profagent
