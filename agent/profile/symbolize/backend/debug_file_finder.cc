// Separate debug files from local disk only (build-id tree, .gnu_debuglink). Part of
// libprofagent-symbolize.so. Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend/debug_file_finder.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <vector>

namespace profagent::symbolize {
namespace {

std::string dirname_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// CRC-32 of the file at `path` (the .gnu_debuglink checksum), false if unreadable.
bool file_crc32(const std::string& path, uint32_t* crc) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  uLong value = crc32(0, nullptr, 0);
  std::vector<unsigned char> buf(1 << 16);
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0) {
    value = crc32(value, buf.data(), static_cast<uInt>(n));
  }
  close(fd);
  *crc = static_cast<uint32_t>(value);
  return n == 0;
}

std::unique_ptr<MappedElf> accept(const std::string& candidate, const std::string& build_id,
                                  bool check_crc, uint32_t crc) {
  if (access(candidate.c_str(), R_OK) != 0) return nullptr;
  if (check_crc) {
    uint32_t actual = 0;
    if (!file_crc32(candidate, &actual) || actual != crc) return nullptr;
  }
  auto debug = std::make_unique<MappedElf>(candidate);
  if (debug->elf() == nullptr) return nullptr;
  if (!build_id.empty() && debug->build_id() != build_id) return nullptr;
  return debug;
}

}  // namespace

std::unique_ptr<MappedElf> find_debug_file(const MappedElf& object, const std::string& path,
                                           const std::string& build_id,
                                           const std::string& debug_root) {
  if (build_id.size() > 2) {
    std::string candidate = debug_root + "/.build-id/" + build_id.substr(0, 2) + "/" +
                            build_id.substr(2) + ".debug";
    if (auto debug = accept(candidate, build_id, false, 0)) return debug;
  }
  Elf_Scn* link = object.section(".gnu_debuglink");
  Elf_Data* data = link != nullptr ? elf_getdata(link, nullptr) : nullptr;
  if (data == nullptr || data->d_size < 8) return nullptr;
  const char* bytes = static_cast<const char*>(data->d_buf);
  size_t name_len = strnlen(bytes, data->d_size);
  if (name_len == 0 || name_len >= data->d_size || memchr(bytes, '/', name_len) != nullptr)
    return nullptr;
  std::string name(bytes, name_len);
  uint32_t crc = 0;
  size_t crc_at = (name_len + 4) & ~size_t{3};
  if (crc_at + 4 > data->d_size) return nullptr;
  std::memcpy(&crc, bytes + crc_at, 4);
  std::string dir = dirname_of(path);
  bool check_crc = build_id.empty();
  for (const std::string& candidate :
       {dir + "/" + name, dir + "/.debug/" + name, debug_root + dir + "/" + name}) {
    if (candidate == path) continue;
    if (auto debug = accept(candidate, build_id, check_crc, crc)) return debug;
  }
  return nullptr;
}

}  // namespace profagent::symbolize
