// The former generated-protobuf encoder (reference_encoder.h), as it was in
// agent/profile/pprof/profile_encode.cc, reading the builder through its public accessors.
#include "tests/agent/profile/pprof/reference_encoder.h"

#include <map>
#include <tuple>
#include <unordered_map>

#include "agent/profile/pprof/string_table.h"

namespace profagent::testing {
namespace {

using pprof_internal::StringTable;

struct MappingStats {
  size_t locations = 0;
  bool all_symbolized = true;
  bool all_file_line = true;
  bool any_inline = false;
};

class Encoder {
 public:
  Encoder(const std::vector<MappingInfo>& mappings, const AddressResolver& resolve,
          pprof::Profile& out, StringTable& strings)
      : mappings_(mappings), resolve_(resolve), out_(out), strings_(strings) {}

  void add_mappings() {
    if (mappings_.empty()) {
      out_.add_mapping()->set_id(1);
      stats_.resize(1);
      return;
    }
    stats_.resize(mappings_.size());
    for (size_t i = 0; i < mappings_.size(); ++i) {
      const MappingInfo& m = mappings_[i];
      pprof::Mapping* pm = out_.add_mapping();
      pm->set_id(i + 1);
      pm->set_memory_start(m.start);
      pm->set_memory_limit(m.limit);
      pm->set_file_offset(m.offset);
      pm->set_filename(strings_.intern(m.filename));
      pm->set_build_id(strings_.intern(m.build_id));
    }
  }

  void finish_mappings() {
    for (size_t i = 0; i < stats_.size(); ++i) {
      const MappingStats& s = stats_[i];
      if (s.locations == 0) continue;
      pprof::Mapping* pm = out_.mutable_mapping(static_cast<int>(i));
      pm->set_has_functions(s.all_symbolized);
      pm->set_has_filenames(s.all_file_line);
      pm->set_has_line_numbers(s.all_file_line);
      pm->set_has_inline_frames(s.any_inline);
    }
  }

  uint64_t location_for_address(uint64_t address) {
    auto [it, inserted] = by_address_.try_emplace(address, 0);
    if (!inserted) return it->second;
    pprof::Location* loc = out_.add_location();
    const uint64_t id = static_cast<uint64_t>(out_.location_size());
    it->second = id;
    loc->set_id(id);
    loc->set_address(address);
    const ResolvedAddress& r = resolve_(address);
    for (const SourceFrame& f : r.frames) {
      pprof::Line* line = loc->add_line();
      line->set_function_id(function_id(
          f.function, f.system_name.empty() ? f.function : f.system_name, f.file,
          f.start_line));
      line->set_line(f.line);
    }
    if (r.mapping_index >= 0 && static_cast<size_t>(r.mapping_index) < mappings_.size()) {
      loc->set_mapping_id(static_cast<uint64_t>(r.mapping_index) + 1);
      MappingStats& s = stats_[static_cast<size_t>(r.mapping_index)];
      ++s.locations;
      s.all_symbolized = s.all_symbolized && r.symbolized && !r.frames.empty();
      s.all_file_line = s.all_file_line && r.has_file_line && !r.frames.empty();
      s.any_inline = s.any_inline || r.frames.size() > 1;
    }
    return id;
  }

  uint64_t location_for_synthetic(const std::string& name) {
    auto [it, inserted] = by_synthetic_name_.try_emplace(name, 0);
    if (!inserted) return it->second;
    pprof::Location* loc = out_.add_location();
    const uint64_t id = static_cast<uint64_t>(out_.location_size());
    it->second = id;
    loc->set_id(id);
    loc->add_line()->set_function_id(function_id(name, name, {}, 0));
    return id;
  }

 private:
  uint64_t function_id(const std::string& name, const std::string& system_name,
                       const std::string& file, int64_t start_line) {
    auto [it, inserted] =
        functions_.try_emplace(std::make_tuple(name, system_name, file, start_line), 0);
    if (!inserted) return it->second;
    pprof::Function* fn = out_.add_function();
    const uint64_t id = static_cast<uint64_t>(out_.function_size());
    it->second = id;
    fn->set_id(id);
    fn->set_name(strings_.intern(name));
    fn->set_system_name(strings_.intern(system_name));
    fn->set_filename(strings_.intern(file));
    fn->set_start_line(start_line);
    return id;
  }

  const std::vector<MappingInfo>& mappings_;
  const AddressResolver& resolve_;
  pprof::Profile& out_;
  StringTable& strings_;
  std::vector<MappingStats> stats_;
  std::unordered_map<uint64_t, uint64_t> by_address_;
  std::map<std::string, uint64_t> by_synthetic_name_;
  std::map<std::tuple<std::string, std::string, std::string, int64_t>, uint64_t> functions_;
};

void set_value_type(pprof::ValueType* vt, const ValueType& v, StringTable& strings) {
  vt->set_type(strings.intern(v.type));
  vt->set_unit(strings.intern(v.unit));
}

}  // namespace

pprof::Profile reference_encode(const ProfileBuilder& builder,
                                const std::vector<MappingInfo>& mappings,
                                const AddressResolver& resolve) {
  pprof::Profile out;
  StringTable strings;
  const ProfileShape& shape = builder.shape();
  for (const ValueType& v : shape.sample_types) set_value_type(out.add_sample_type(), v, strings);
  set_value_type(out.mutable_period_type(), shape.period_type, strings);
  out.set_period(shape.period);
  if (builder.time_nanos() != 0) out.set_time_nanos(builder.time_nanos());
  if (builder.duration_nanos() != 0) out.set_duration_nanos(builder.duration_nanos());
  if (!shape.default_sample_type.empty()) {
    out.set_default_sample_type(strings.intern(shape.default_sample_type));
  }
  for (const std::string& c : builder.comments()) out.add_comment(strings.intern(c));

  Encoder enc(mappings, resolve, out, strings);
  enc.add_mappings();
  for (const auto& [key, values] : builder.samples()) {
    pprof::Sample* s = out.add_sample();
    if (key.synthetic != 0) {
      s->add_location_id(enc.location_for_synthetic(std::string(builder.synthetic_name(key))));
    }
    for (uint64_t address : key.stack) s->add_location_id(enc.location_for_address(address));
    for (int64_t v : values) s->add_value(v);
    for (const Label& l : key.labels) {
      pprof::Label* pl = s->add_label();
      pl->set_key(strings.intern(l.key));
      if (!l.str.empty()) {
        pl->set_str(strings.intern(l.str));
      } else {
        pl->set_num(l.num);
        pl->set_num_unit(strings.intern(l.num_unit));
      }
    }
  }
  enc.finish_mappings();
  for (const std::string& s : strings.strings()) out.add_string_table(s);
  return out;
}

}  // namespace profagent::testing
