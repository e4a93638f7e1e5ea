// gunzip with zlib's inflate (gunzip.h).
#include "agent/push/gunzip.h"

#include <zlib.h>

namespace profagent {

bool gunzip(std::string_view in, std::string* out, size_t max_out) {
  out->clear();
  if (in.size() < 2 || static_cast<unsigned char>(in[0]) != 0x1f ||
      static_cast<unsigned char>(in[1]) != 0x8b)
    return false;
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return false;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  bool ok = true;
  for (;;) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      ok = false;
      break;
    }
    out->append(buf, sizeof buf - z.avail_out);
    if (out->size() > max_out) {
      ok = false;
      break;
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another gzip member follows
    }
  }
  inflateEnd(&z);
  return ok;
}

}  // namespace profagent
