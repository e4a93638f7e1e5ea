// What a push to Pyroscope is called: the push URL check, the application name and the
// PROFAGENT_TAGS labels, and the `name` query parameter built from them
// ("app{k=v,k=v}", Pyroscope's ingest key). Pure functions, normal context; used by the
// configuration parser (agent/core/config.cc) and the pusher.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace profagent {

using Tags = std::vector<std::pair<std::string, std::string>>;

// "http://host[:port][/prefix]" or https; no query or fragment. Returns "" when usable,
// else why not.
std::string push_url_problem(const std::string& url);

// A URL split into the URL without user and password ("http://u:p@host/x" ->
// "http://host/x") and the percent-decoded user and password, which only the request's
// Authorization header carries.
struct UrlCredentials {
  std::string url;
  std::string user;
  std::string password;
};
UrlCredentials split_url_credentials(const std::string& url);

// `text` with the user and password of a "scheme://user:password@host" URL removed: what
// logs, warnings and profile comments show.
std::string redact_url(const std::string& text);

// An application name Pyroscope accepts: letters, digits and . _ - / : (1..128 chars).
bool valid_app_name(const std::string& name);
// `name` with every character valid_app_name refuses replaced by '_' ("" -> "app").
std::string sanitize_app_name(const std::string& name);

struct ParsedTags {
  Tags tags;                      // valid ones, in order, later duplicates replace earlier
  std::vector<std::string> bad;   // each refused entry, as written
};

// "k=v,k=v": key [A-Za-z_][A-Za-z0-9_.]* (not starting "__", not "service_name"), value
// 1..256 chars of letters, digits and . _ - / : @ +. Blank entries are ignored.
ParsedTags parse_tags(const std::string& text);

// Pyroscope's ingest key: "app{k=v,k=v}" (just "app" without tags).
std::string ingest_name(const std::string& app, const Tags& tags);

}  // namespace profagent
