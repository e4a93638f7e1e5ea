// MiniDebugInfo (.gnu_debugdata, xz) decompression. Part of libprofagent-symbolize.so.
// Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend/mini_debuginfo.h"

#include <lzma.h>

#include <string>

namespace profagent::symbolize {
namespace {

constexpr size_t kMaxDecompressed = 64u << 20;

}  // namespace

std::unique_ptr<MappedElf> mini_debuginfo(const MappedElf& object) {
  Elf_Scn* scn = object.section(".gnu_debugdata");
  Elf_Data* data = scn != nullptr ? elf_rawdata(scn, nullptr) : nullptr;
  if (data == nullptr || data->d_size == 0) return nullptr;
  lzma_stream stream = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&stream, UINT64_MAX, 0) != LZMA_OK) return nullptr;
  std::string out(data->d_size * 4, '\0');
  stream.next_in = static_cast<const uint8_t*>(data->d_buf);
  stream.avail_in = data->d_size;
  lzma_ret rc = LZMA_OK;
  while (rc == LZMA_OK) {
    if (stream.total_out == out.size()) {
      if (out.size() >= kMaxDecompressed) break;
      out.resize(out.size() * 2);
    }
    stream.next_out = reinterpret_cast<uint8_t*>(out.data()) + stream.total_out;
    stream.avail_out = out.size() - stream.total_out;
    rc = lzma_code(&stream, LZMA_FINISH);
  }
  size_t size = stream.total_out;
  lzma_end(&stream);
  if (rc != LZMA_STREAM_END) return nullptr;
  auto elf = std::make_unique<MappedElf>(out.data(), size);
  return elf->elf() != nullptr ? std::move(elf) : nullptr;
}

}  // namespace profagent::symbolize
