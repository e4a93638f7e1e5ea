// Protocol Buffers wire-format primitives for the profiles we write, by hand, so the agent
// links no protobuf runtime that could bind to (or be bound by) the host's copy: varints,
// zigzag-free int64 as two's-complement varints (proto3 `int64`), packed repeated scalars and
// length-delimited strings and submessages. Go's runtime/pprof (protobuf.go) writes its
// profiles the same way. Proto3 implicit presence: the *_field writers omit a field holding
// its default (0, false), as protobuf's own serializer does. Normal context (allocates).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace profagent::pprof_internal {

class ProtoWriter {
 public:
  // uint64 / int64 / bool fields (wire type 0); nothing is written for 0 or false.
  void uint64_field(uint32_t field, uint64_t value);
  void int64_field(uint32_t field, int64_t value) {
    uint64_field(field, static_cast<uint64_t>(value));
  }
  void bool_field(uint32_t field, bool value) { uint64_field(field, value ? 1 : 0); }

  // A packed repeated uint64/int64 field (wire type 2); nothing for an empty list.
  void packed_uint64(uint32_t field, std::span<const uint64_t> values);
  void packed_int64(uint32_t field, std::span<const int64_t> values);

  // One element of a repeated string field, or a submessage already written into `message`
  // (wire type 2). Always written, even when empty (string_table[0] is "").
  void bytes_field(uint32_t field, std::string_view bytes);
  void message_field(uint32_t field, const ProtoWriter& message) {
    bytes_field(field, message.bytes());
  }

  // Room for `bytes` more without growing (a guess; writing past it is fine).
  void reserve(size_t bytes) { out_.reserve(out_.size() + bytes); }

  const std::string& bytes() const { return out_; }
  std::string take() { return std::move(out_); }
  void clear() { out_.clear(); }

 private:
  void tag(uint32_t field, uint32_t wire_type) {
    varint((static_cast<uint64_t>(field) << 3) | wire_type);
  }
  void varint(uint64_t value) {
    if (value < 0x80) {  // tags, ids, small numbers: most varints are one byte
      out_.push_back(static_cast<char>(value));
      return;
    }
    long_varint(value);
  }
  void long_varint(uint64_t value);

  std::string out_;
};

// Bytes of `value` as a varint (1..10).
size_t varint_size(uint64_t value);

}  // namespace profagent::pprof_internal
