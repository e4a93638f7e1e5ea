// gzip_compress(): one gzip (RFC 1952) member of a buffer, with libdeflate. Go's
// runtime/pprof gzips its profiles at BestSpeed, so callers use level 1. libdeflate
// compresses a whole buffer at once (no streaming state): at level 1 it is 2.5x faster than
// zlib on a 90 KiB heap profile (213 vs 540 us) and twice as fast on a 2 KiB exit-dump
// profile, for output 3% larger; any gzip reader (pprof, gunzip) reads it. Normal context
// only (allocates).
#include <libdeflate.h>

#include <memory>

#include "agent/profile/pprof/profile_builder.h"

namespace profagent {

// Returns "" only if compression fails (out of memory or a bad level); any real gzip output,
// even of empty input, is at least 20 bytes, so "" is unambiguous.
std::string gzip_compress(std::string_view data, int level) {
  std::unique_ptr<libdeflate_compressor, decltype(&libdeflate_free_compressor)> compressor(
      libdeflate_alloc_compressor(level), &libdeflate_free_compressor);
  if (compressor == nullptr) return {};
  std::string out(libdeflate_gzip_compress_bound(compressor.get(), data.size()), '\0');
  size_t written = libdeflate_gzip_compress(compressor.get(), data.data(), data.size(),
                                            out.data(), out.size());
  if (written == 0) return {};  // cannot happen with the bound's room; never a partial gzip
  out.resize(written);
  return out;
}

}  // namespace profagent
