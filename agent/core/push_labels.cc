// Push URL, application name and tag validation, and the ingest key (push_labels.h).
#include "agent/core/push_labels.h"

#include <cctype>

namespace profagent {
namespace {

bool app_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
         c == '/' || c == ':';
}

bool value_char(char c) { return app_char(c) || c == '@' || c == '+'; }

bool valid_key(const std::string& k) {
  if (k.empty() || k.size() > 64) return false;
  if (!(std::isalpha(static_cast<unsigned char>(k[0])) || k[0] == '_')) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.')) return false;
  return k.rfind("__", 0) != 0 && k != "service_name";
}

bool valid_value(const std::string& v) {
  if (v.empty() || v.size() > 256) return false;
  for (char c : v)
    if (!value_char(c)) return false;
  return true;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() &&
        hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Where the user information of `url` is: [begin, end) including the '@', or npos.
std::pair<size_t, size_t> userinfo_span(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return {std::string::npos, 0};
  const size_t begin = scheme_end + 3;
  size_t authority_end = url.find_first_of("/?#", begin);
  if (authority_end == std::string::npos) authority_end = url.size();
  const size_t at = url.rfind('@', authority_end == 0 ? 0 : authority_end - 1);
  if (at == std::string::npos || at < begin) return {std::string::npos, 0};
  return {begin, at + 1};
}

}  // namespace

UrlCredentials split_url_credentials(const std::string& url) {
  UrlCredentials out;
  const auto [begin, end] = userinfo_span(url);
  if (begin == std::string::npos) {
    out.url = url;
    return out;
  }
  const std::string userinfo = url.substr(begin, end - 1 - begin);
  const size_t colon = userinfo.find(':');
  out.user = percent_decode(userinfo.substr(0, colon));
  if (colon != std::string::npos) out.password = percent_decode(userinfo.substr(colon + 1));
  out.url = url.substr(0, begin) + url.substr(end);
  return out;
}

std::string redact_url(const std::string& text) {
  std::string out = text;
  // Every "scheme://user:password@" in the text, not just the first.
  for (size_t from = 0;;) {
    const size_t scheme_end = out.find("://", from);
    if (scheme_end == std::string::npos) return out;
    const size_t word = out.find_last_of(" \t'\"<>(=", scheme_end);
    const size_t start = word == std::string::npos ? 0 : word + 1;
    std::string tail = out.substr(start);
    size_t stop = tail.find_first_of(" \t'\"<>");
    std::string url = tail.substr(0, stop);
    UrlCredentials split = split_url_credentials(url);
    out = out.substr(0, start) + split.url + tail.substr(url.size());
    from = start + split.url.size();
    if (from <= scheme_end) from = scheme_end + 3;
  }
}

std::string push_url_problem(const std::string& url) {
  size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return "it has no http:// or https:// scheme";
  std::string scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return "the scheme must be http or https";
  std::string rest = url.substr(scheme_end + 3);
  if (rest.find_first_of("?#") != std::string::npos) return "it must not have a query or fragment";
  for (char c : rest)
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return "it contains white space";
  std::string authority = rest.substr(0, rest.find('/'));
  if (size_t at = authority.rfind('@'); at != std::string::npos) authority = authority.substr(at + 1);
  if (authority.empty()) return "it has no host";
  std::string host = authority, port;
  if (authority[0] == '[') {  // [v6]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return "its IPv6 address has no ']'";
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return "unexpected text after the IPv6 address";
      port = authority.substr(close + 2);
      if (port.empty()) return "its port is empty";
    }
  } else if (size_t colon = authority.find(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return "its port is empty";
  }
  if (host.empty()) return "it has no host";
  if (!port.empty()) {
    if (port.size() > 5) return "its port is not a number from 1 to 65535";
    for (char c : port)
      if (!std::isdigit(static_cast<unsigned char>(c))) return "its port is not a number from 1 to 65535";
    long p = std::stol(port);
    if (p < 1 || p > 65535) return "its port is not a number from 1 to 65535";
  }
  return "";
}

bool valid_app_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name)
    if (!app_char(c)) return false;
  return true;
}

std::string sanitize_app_name(const std::string& name) {
  std::string out = name.substr(0, 128);
  for (char& c : out)
    if (!app_char(c)) c = '_';
  return out.empty() ? "app" : out;
}

ParsedTags parse_tags(const std::string& text) {
  ParsedTags parsed;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    std::string entry = trim(text.substr(pos, comma - pos));
    pos = comma + 1;
    if (entry.empty()) continue;
    size_t eq = entry.find('=');
    std::string key = eq == std::string::npos ? entry : trim(entry.substr(0, eq));
    std::string value = eq == std::string::npos ? "" : trim(entry.substr(eq + 1));
    if (eq == std::string::npos || !valid_key(key) || !valid_value(value)) {
      parsed.bad.push_back(entry);
      continue;
    }
    bool replaced = false;
    for (auto& [k, v] : parsed.tags)
      if (k == key) {
        v = value;
        replaced = true;
      }
    if (!replaced) parsed.tags.emplace_back(key, value);
  }
  return parsed;
}

std::string ingest_name(const std::string& app, const Tags& tags) {
  if (tags.empty()) return app;
  std::string name = app + "{";
  for (size_t i = 0; i < tags.size(); ++i) {
    if (i) name += ",";
    name += tags[i].first + "=" + tags[i].second;
  }
  return name + "}";
}

}  // namespace profagent
