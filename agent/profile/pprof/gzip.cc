// gzip_compress(): one gzip (RFC 1952) member of a buffer, with zlib. Go's runtime/pprof
// gzips its profiles at BestSpeed, so callers use level 1. The window and hash table are
// sized to the input: a small profile (the exit dump of a short process) does not allocate
// and fault in zlib's full 256 KiB of state for a few KiB of data, and compresses the same.
// Normal context only (allocates).
#include <zlib.h>

#include <algorithm>
#include <climits>

#include "agent/profile/pprof/profile_builder.h"

namespace profagent {

// Returns "" only if zlib fails (out of memory or a bad level); any real gzip output, even of
// empty input, is at least 20 bytes, so "" is unambiguous.
std::string gzip_compress(std::string_view data, int level) {
  z_stream zs{};
  // The smallest window (2^9 .. 2^15 bytes) holding the whole input finds every match a full
  // window would; memLevel follows it (hash table, pending buffer).
  int window_bits = 9;
  while (window_bits < 15 && (size_t{1} << window_bits) < data.size()) ++window_bits;
  int mem_level = std::max(1, std::min(8, window_bits - 7));
  // windowBits + 16: a gzip header and trailer instead of a zlib one.
  if (deflateInit2(&zs, level, Z_DEFLATED, window_bits + 16, mem_level, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    return {};

  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(std::min<size_t>(data.size(), ULONG_MAX))) + 64);
  size_t in_pos = 0;
  size_t out_pos = 0;
  int rc = Z_OK;
  bool stalled = false;
  // avail_in/avail_out are 32-bit: feed and drain in chunks so any size works.
  constexpr size_t kChunk = 1u << 30;
  while (rc != Z_STREAM_END) {
    const size_t in_left = data.size() - in_pos;
    const size_t in_now = std::min(in_left, kChunk);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + in_pos));
    zs.avail_in = static_cast<uInt>(in_now);
    if (stalled || out.size() - out_pos < 64) out.resize(out.size() * 2);
    const size_t out_now = std::min(out.size() - out_pos, kChunk);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
    zs.avail_out = static_cast<uInt>(out_now);
    rc = deflate(&zs, in_now == in_left ? Z_FINISH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&zs);
      return {};
    }
    in_pos += in_now - zs.avail_in;
    out_pos += out_now - zs.avail_out;
    stalled = zs.avail_in == in_now && zs.avail_out == out_now;
  }
  deflateEnd(&zs);
  out.resize(out_pos);
  return out;
}

}  // namespace profagent
