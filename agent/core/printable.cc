// Escaping and cutting raw values for log lines (see printable.h). Normal context.
#include "agent/core/printable.h"

namespace profagent {

std::string printable(std::string_view raw, size_t max_bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  size_t n = raw.size() < max_bytes ? raw.size() : max_bytes;
  out.reserve(n + 16);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    switch (c) {
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\\': out += "\\\\"; continue;
      default: break;
    }
    if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (raw.size() > max_bytes) out += "...(" + std::to_string(raw.size()) + " bytes)";
  return out;
}

}  // namespace profagent
