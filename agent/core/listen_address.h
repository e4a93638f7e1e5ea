// PROFAGENT_HTTP's value ("127.0.0.1:6060", "[::1]:6060", "localhost:6060", ":6060", "6060")
// parsed into the socket address the live-profiling server binds. Loopback unless another
// address is written out explicitly. Normal context; pure (no sockets), unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace profagent {

struct ListenAddress {
  bool ipv6 = false;
  uint8_t ip[16] = {};   // network order; IPv4 in the first 4 bytes
  uint16_t port = 0;     // host order; 0 = any free port (the log line says which)
  bool loopback = true;  // 127.0.0.0/8 or ::1
  std::string text;      // normalized "127.0.0.1:6060" / "[::1]:6060" for log lines
};

// nullopt if the text is not an address the server can bind. A missing or "localhost"
// host means 127.0.0.1 (never every interface: that must be written as 0.0.0.0 or [::]).
std::optional<ListenAddress> parse_listen_address(const std::string& text);

}  // namespace profagent
