// gunzip of one profile file's bytes (the push path turns cumulative profiles into deltas
// and needs the protobuf back). Normal context.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace profagent {

// Decompresses every gzip member of `in` into `*out`. False if the data is not gzip, is
// corrupt, or would exceed `max_out` bytes.
bool gunzip(std::string_view in, std::string* out, size_t max_out = size_t{256} << 20);

}  // namespace profagent
