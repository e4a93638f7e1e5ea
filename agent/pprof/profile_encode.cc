// ProfileBuilder::encode(): turns the collected samples into a pprof Profile message per
// pprof-semantics.md §2, §6 and §9: symbolizes each distinct address once with the
// Symbolizer, deduplicates locations (by address) and functions (by name, system_name,
// filename, start_line), assigns ids 1..N, sets the mapping flags from what was actually
// symbolized, and interns every string once. Normal context only (allocates).
#include <map>
#include <tuple>
#include <unordered_map>

#include "agent/pprof/profile_builder.h"
#include "agent/pprof/string_table.h"
#include "agent/symbolize/symbolizer.h"
#include "profile.pb.h"

namespace profagent {
namespace {

using pprof_internal::StringTable;

// What the locations of one mapping turned out to be, for its has_* flags.
struct MappingStats {
  size_t locations = 0;
  bool all_symbolized = true;
  bool all_file_line = true;
  bool any_inline = false;
};

class Encoder {
 public:
  Encoder(Symbolizer& symbolizer, pprof::Profile& out, StringTable& strings)
      : symbolizer_(symbolizer), out_(out), strings_(strings) {}

  // Emits every executable mapping the symbolizer lists (ids 1..N in its order, so the
  // main executable is mapping 1), or Go's one zeroed mapping when there is none.
  void add_mappings() {
    mappings_ = symbolizer_.mappings();
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

  // Sets has_* on each mapping from its locations: has_functions / has_filenames /
  // has_line_numbers only when every one of its locations (at least one) had them,
  // has_inline_frames when any had more than one Line. A mapping with no locations gets
  // none, as Go does.
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

    const ResolvedAddress& r = symbolizer_.resolve(address);
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

  // A frame with no address and no mapping whose one Line names `name`.
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

  Symbolizer& symbolizer_;
  pprof::Profile& out_;
  StringTable& strings_;
  std::vector<MappingInfo> mappings_;
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

// Calls symbolizer.refresh() first so libraries loaded since the last dump are listed.
// Returns "" only if protobuf serialization fails (a message over 2 GiB).
std::string ProfileBuilder::encode(Symbolizer& symbolizer) const {
  symbolizer.refresh();
  pprof::Profile out;
  StringTable strings;

  for (const ValueType& v : shape_.sample_types) set_value_type(out.add_sample_type(), v, strings);
  set_value_type(out.mutable_period_type(), shape_.period_type, strings);
  out.set_period(shape_.period);
  if (time_nanos_ != 0) out.set_time_nanos(time_nanos_);
  if (duration_nanos_ != 0) out.set_duration_nanos(duration_nanos_);
  if (!shape_.default_sample_type.empty()) {
    out.set_default_sample_type(strings.intern(shape_.default_sample_type));
  }
  for (const std::string& c : comments_) out.add_comment(strings.intern(c));

  Encoder enc(symbolizer, out, strings);
  enc.add_mappings();
  for (const auto& [key, values] : samples_) {
    pprof::Sample* s = out.add_sample();
    if (key.synthetic != 0) {
      s->add_location_id(enc.location_for_synthetic(synthetic_frames_[key.synthetic - 1]));
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
  std::string bytes;
  if (!out.SerializeToString(&bytes)) return {};
  return bytes;
}

}  // namespace profagent
