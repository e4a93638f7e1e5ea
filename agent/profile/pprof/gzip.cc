// gzip_compress(): one gzip (RFC 1952) member of a buffer, with libdeflate. Go's
// runtime/pprof gzips its profiles at BestSpeed, so callers use level 1. libdeflate
// compresses a whole buffer at once (no streaming state): at level 1 it is 2.5x faster than
// zlib on a 90 KiB heap profile (213 vs 540 us) and twice as fast on a 2 KiB exit-dump
// profile, for output 3% larger; any gzip reader (pprof, gunzip) reads it. Normal context
// only (allocates).
//
// A periodic dump compresses a few profiles every interval: a compressor made anew for each
// (its level-1 match finder is ~300 KiB) came from fresh pages every time, and those page
// faults cost more than the compression (1.3-1.7 ms against ~0.3 ms for a 90 KiB heap
// profile). One compressor per level is kept and lent to one caller at a time; a second
// caller at the same moment (the HTTP thread beside the dump thread) makes its own.
//
// A small profile (a short process's exit dump: 1-15 KiB) is stored instead: gzip's header,
// deflate blocks of type 0 (uncompressed) and the CRC-32 and size. The first use of a
// level-1 compressor in a process zeroes its 128 KiB match finder, fresh pages that cost
// such a process ~0.5 ms here (2 ms in all for a 2 KiB CPU profile's exit dump) to save a
// few KiB of disk; every gzip reader takes stored blocks.
#include <libdeflate.h>

#include <atomic>
#include <memory>

#include "agent/core/large_bss.h"
#include "agent/profile/pprof/profile_builder.h"

namespace profagent {
namespace {

constexpr int kLevels = 13;  // libdeflate's levels 0..12
PROFAGENT_LARGE_BSS std::atomic<libdeflate_compressor*> g_kept[kLevels];  // (large_bss.h)

// `level` in 0..kLevels-1 (gzip_compress checks it).
libdeflate_compressor* borrow_compressor(int level) {
  libdeflate_compressor* c = g_kept[level].exchange(nullptr, std::memory_order_acquire);
  return c != nullptr ? c : libdeflate_alloc_compressor(level);
}

void return_compressor(int level, libdeflate_compressor* c) {
  libdeflate_compressor* empty = nullptr;
  if (!g_kept[level].compare_exchange_strong(empty, c, std::memory_order_release))
    libdeflate_free_compressor(c);  // another one was returned first
}

void append_le(std::string& out, uint32_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// One gzip member of `data` in one stored deflate block (it holds up to 65,535 bytes).
static_assert(kGzipStoredBelow <= 65535);
std::string gzip_stored(std::string_view data) {
  std::string out;
  out.reserve(10 + 5 + data.size() + 8);
  // Magic, deflate, no flags, no time, no extra flags, Unix (as libdeflate and Go write).
  static constexpr char kHeader[10] = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
  out.append(kHeader, sizeof kHeader);
  out.push_back(1);  // BFINAL, BTYPE 00 (stored)
  append_le(out, static_cast<uint32_t>(data.size()), 2);
  append_le(out, static_cast<uint32_t>(~data.size() & 0xffff), 2);
  out.append(data);
  append_le(out, libdeflate_crc32(0, data.data(), data.size()), 4);
  append_le(out, static_cast<uint32_t>(data.size()), 4);  // ISIZE
  return out;
}

}  // namespace

// Returns "" only if compression fails (out of memory or a bad level); any real gzip output,
// even of empty input, is at least 20 bytes, so "" is unambiguous.
std::string gzip_compress(std::string_view data, int level) {
  if (level < 0 || level >= kLevels) return {};
  if (data.size() < kGzipStoredBelow) return gzip_stored(data);
  libdeflate_compressor* compressor = borrow_compressor(level);
  if (compressor == nullptr) return {};
  size_t bound = libdeflate_gzip_compress_bound(compressor, data.size());
  // Uninitialised room (a std::string of the bound would first be zero-filled), then one copy
  // of what was written, which is ~1/3 of the input.
  std::unique_ptr<char[]> room(new (std::nothrow) char[bound]);
  size_t written = room == nullptr ? 0
                                   : libdeflate_gzip_compress(compressor, data.data(),
                                                              data.size(), room.get(), bound);
  return_compressor(level, compressor);
  if (written == 0) return {};  // out of memory; never a partial gzip (the bound has room)
  return std::string(room.get(), written);
}

}  // namespace profagent
