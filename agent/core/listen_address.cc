// Parsing of PROFAGENT_HTTP into a ListenAddress (see listen_address.h). Normal context.
#include "agent/core/listen_address.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>

namespace profagent {
namespace {

std::optional<uint16_t> parse_port(const std::string& s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

std::optional<ListenAddress> parse_listen_address(const std::string& raw) {
  size_t b = raw.find_first_not_of(" \t");
  size_t e = raw.find_last_not_of(" \t");
  if (b == std::string::npos) return std::nullopt;
  std::string text = raw.substr(b, e - b + 1);

  std::string host, port;
  if (text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty()) return std::nullopt;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      port = text;  // "6060"
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string::npos) return std::nullopt;  // bare IPv6: use [..]
    }
  }
  auto p = parse_port(port);
  if (!p) return std::nullopt;

  ListenAddress a;
  a.port = *p;
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), a.ip) == 1) {
    a.ipv6 = false;
    a.loopback = a.ip[0] == 127;
    a.text = host + ":" + std::to_string(a.port);
  } else if (inet_pton(AF_INET6, host.c_str(), a.ip) == 1) {
    a.ipv6 = true;
    static const uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    a.loopback = memcmp(a.ip, kLoop6, 16) == 0;
    a.text = "[" + host + "]:" + std::to_string(a.port);
  } else {
    return std::nullopt;  // host names other than localhost are not resolved at start
  }
  return a;
}

}  // namespace profagent
