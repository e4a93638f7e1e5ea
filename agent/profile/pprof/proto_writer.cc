// ProtoWriter (proto_writer.h): the varint and length-delimited encodings of the protobuf
// wire format. Normal context (allocates).
#include "agent/profile/pprof/proto_writer.h"

namespace profagent::pprof_internal {
namespace {

constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

}  // namespace

size_t varint_size(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void ProtoWriter::long_varint(uint64_t value) {
  char buf[10];
  size_t n = 0;
  while (value >= 0x80) {
    buf[n++] = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  buf[n++] = static_cast<char>(value);
  out_.append(buf, n);
}

void ProtoWriter::uint64_field(uint32_t field, uint64_t value) {
  if (value == 0) return;
  tag(field, kVarint);
  varint(value);
}

void ProtoWriter::packed_uint64(uint32_t field, std::span<const uint64_t> values) {
  if (values.empty()) return;
  size_t length = 0;
  for (uint64_t v : values) length += varint_size(v);
  tag(field, kLengthDelimited);
  varint(length);
  for (uint64_t v : values) varint(v);
}

void ProtoWriter::packed_int64(uint32_t field, std::span<const int64_t> values) {
  if (values.empty()) return;
  size_t length = 0;
  for (int64_t v : values) length += varint_size(static_cast<uint64_t>(v));
  tag(field, kLengthDelimited);
  varint(length);
  for (int64_t v : values) varint(static_cast<uint64_t>(v));
}

void ProtoWriter::bytes_field(uint32_t field, std::string_view bytes) {
  tag(field, kLengthDelimited);
  varint(bytes.size());
  out_.append(bytes);
}

}  // namespace profagent::pprof_internal
