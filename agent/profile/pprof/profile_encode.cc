// SymbolizedProfile::encode(): the pprof Profile message (proto/profile.proto, field numbers
// below) written by hand with ProtoWriter, in field-number order with proto3's implicit
// presence (zeros left out, as protobuf's serializer does), so a protobuf reader decodes
// exactly the message the generated code used to write. Also ProfileBuilder::encode().
// Normal context only (allocates).
#include <vector>

#include "agent/profile/pprof/profile_builder.h"
#include "agent/profile/pprof/proto_writer.h"
#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent {
namespace {

using pprof_internal::ProtoWriter;

// Field numbers of proto/profile.proto.
namespace profile_field {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5,
                   kStringTable = 6, kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11,
                   kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
}
namespace value_type_field {
constexpr uint32_t kType = 1, kUnit = 2;
}
namespace sample_field {
constexpr uint32_t kLocationId = 1, kValue = 2, kLabel = 3;
}
namespace label_field {
constexpr uint32_t kKey = 1, kStr = 2, kNum = 3, kNumUnit = 4;
}
namespace mapping_field {
constexpr uint32_t kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFileOffset = 4, kFilename = 5,
                   kBuildId = 6, kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9,
                   kHasInlineFrames = 10;
}
namespace location_field {
constexpr uint32_t kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line_field {
constexpr uint32_t kFunctionId = 1, kLine = 2;
}
namespace function_field {
constexpr uint32_t kId = 1, kName = 2, kSystemName = 3, kFilename = 4, kStartLine = 5;
}

void write_value_type(ProtoWriter& w, uint32_t field, const ValueType& v,
                      const pprof_internal::StringTable& strings, ProtoWriter& scratch) {
  scratch.clear();
  scratch.int64_field(value_type_field::kType, strings.index_of(v.type));
  scratch.int64_field(value_type_field::kUnit, strings.index_of(v.unit));
  w.message_field(field, scratch);
}

}  // namespace

std::string SymbolizedProfile::encode() const {
  ProtoWriter out, msg, sub;
  const ProfileShape& shape = builder.shape();
  // One allocation for the message in the usual case (a guess from the counts and text).
  size_t text = 0;
  for (const std::string& s : strings.strings()) text += s.size() + 3;
  out.reserve(text + builder.samples().size() * 48 + locations.size() * 24 +
              functions.size() * 16 + mappings.size() * 48 + 64);
  for (const ValueType& v : shape.sample_types)
    write_value_type(out, profile_field::kSampleType, v, strings, msg);

  std::vector<uint64_t> ids;
  for (const auto& [key, values] : builder.samples()) {
    msg.clear();
    location_ids(key, ids);
    msg.packed_uint64(sample_field::kLocationId, ids);
    msg.packed_int64(sample_field::kValue, values);
    for (const Label& l : key.labels) {
      sub.clear();
      sub.int64_field(label_field::kKey, strings.index_of(l.key));
      if (!l.str.empty()) {
        sub.int64_field(label_field::kStr, strings.index_of(l.str));
      } else {
        sub.int64_field(label_field::kNum, l.num);
        sub.int64_field(label_field::kNumUnit, strings.index_of(l.num_unit));
      }
      msg.message_field(sample_field::kLabel, sub);
    }
    out.message_field(profile_field::kSample, msg);
  }

  for (size_t i = 0; i < mappings.size(); ++i) {
    const PprofMapping& m = mappings[i];
    msg.clear();
    msg.uint64_field(mapping_field::kId, i + 1);
    msg.uint64_field(mapping_field::kMemoryStart, m.memory_start);
    msg.uint64_field(mapping_field::kMemoryLimit, m.memory_limit);
    msg.uint64_field(mapping_field::kFileOffset, m.file_offset);
    msg.int64_field(mapping_field::kFilename, m.filename);
    msg.int64_field(mapping_field::kBuildId, m.build_id);
    msg.bool_field(mapping_field::kHasFunctions, m.has_functions);
    msg.bool_field(mapping_field::kHasFilenames, m.has_filenames);
    msg.bool_field(mapping_field::kHasLineNumbers, m.has_line_numbers);
    msg.bool_field(mapping_field::kHasInlineFrames, m.has_inline_frames);
    out.message_field(profile_field::kMapping, msg);
  }

  for (size_t i = 0; i < locations.size(); ++i) {
    const PprofLocation& loc = locations[i];
    msg.clear();
    msg.uint64_field(location_field::kId, i + 1);
    msg.uint64_field(location_field::kMappingId, loc.mapping_id);
    msg.uint64_field(location_field::kAddress, loc.address);
    for (const PprofLine& line : loc.lines) {
      sub.clear();
      sub.uint64_field(line_field::kFunctionId, line.function_id);
      sub.int64_field(line_field::kLine, line.line);
      msg.message_field(location_field::kLine, sub);
    }
    out.message_field(profile_field::kLocation, msg);
  }

  for (size_t i = 0; i < functions.size(); ++i) {
    const PprofFunction& fn = functions[i];
    msg.clear();
    msg.uint64_field(function_field::kId, i + 1);
    msg.int64_field(function_field::kName, fn.name);
    msg.int64_field(function_field::kSystemName, fn.system_name);
    msg.int64_field(function_field::kFilename, fn.filename);
    msg.int64_field(function_field::kStartLine, fn.start_line);
    out.message_field(profile_field::kFunction, msg);
  }

  for (const std::string& s : strings.strings()) out.bytes_field(profile_field::kStringTable, s);
  out.int64_field(profile_field::kTimeNanos, builder.time_nanos());
  out.int64_field(profile_field::kDurationNanos, builder.duration_nanos());
  write_value_type(out, profile_field::kPeriodType, shape.period_type, strings, msg);
  out.int64_field(profile_field::kPeriod, shape.period);
  std::vector<int64_t> comments;
  comments.reserve(builder.comments().size());
  for (const std::string& c : builder.comments()) comments.push_back(strings.index_of(c));
  out.packed_int64(profile_field::kComment, comments);
  out.int64_field(profile_field::kDefaultSampleType, strings.index_of(shape.default_sample_type));
  return out.take();
}

std::string ProfileBuilder::encode(Symbolizer& symbolizer) const {
  return symbolize_profile(*this, symbolizer).encode();
}

}  // namespace profagent
