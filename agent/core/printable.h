// Making a raw value (an environment variable, a path, a header) safe to echo in a log
// line: control characters and non-ASCII bytes escaped, length cut. Normal context.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace profagent {

// `raw` with \n, \r, \t as such, every other byte below 0x20 or from 0x7f up as \xHH, and a
// backslash doubled; longer than `max_bytes` input bytes: cut there, followed by
// "...(N bytes)" with N the raw length.
std::string printable(std::string_view raw, size_t max_bytes = 120);

}  // namespace profagent
