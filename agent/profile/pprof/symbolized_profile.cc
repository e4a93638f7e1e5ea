// symbolize_profile() and SymbolizedProfile's sample replacement (symbolized_profile.h):
// each distinct address resolved once, locations deduplicated by address, functions by
// (name, system_name, filename, start_line), ids assigned in order of first use while
// walking the samples, every string interned once, mapping flags from what was actually
// symbolized. Normal context only (allocates).
#include "agent/profile/pprof/symbolized_profile.h"

#include <unordered_map>
#include <utility>

namespace profagent {
namespace {

// What the locations of one mapping turned out to be, for its has_* flags.
struct MappingStats {
  size_t locations = 0;
  bool all_symbolized = true;
  bool all_file_line = true;
  bool any_inline = false;
};

class Resolver {
 public:
  Resolver(SymbolizedProfile& out, const std::vector<MappingInfo>& mappings,
           const AddressResolver& resolve)
      : out_(out), mappings_(mappings), resolve_(resolve) {}

  // Every executable mapping (ids 1..N in the given order, so the main executable is
  // mapping 1), or Go's one zeroed mapping when there is none.
  void add_mappings() {
    if (mappings_.empty()) {
      out_.mappings.emplace_back();
      stats_.resize(1);
      return;
    }
    stats_.resize(mappings_.size());
    for (const MappingInfo& m : mappings_) {
      PprofMapping pm;
      pm.memory_start = m.start;
      pm.memory_limit = m.limit;
      pm.file_offset = m.offset;
      pm.filename = out_.strings.intern(m.filename);
      pm.build_id = out_.strings.intern(m.build_id);
      out_.mappings.push_back(pm);
    }
  }

  // has_functions / has_filenames / has_line_numbers only when every one of a mapping's
  // locations (at least one) had them, has_inline_frames when any had more than one Line.
  // A mapping with no locations gets none, as Go does.
  void finish_mappings() {
    for (size_t i = 0; i < stats_.size(); ++i) {
      const MappingStats& s = stats_[i];
      if (s.locations == 0) continue;
      PprofMapping& pm = out_.mappings[i];
      pm.has_functions = s.all_symbolized;
      pm.has_filenames = s.all_file_line;
      pm.has_line_numbers = s.all_file_line;
      pm.has_inline_frames = s.any_inline;
    }
  }

  void add_address(uint64_t address) {
    auto [it, inserted] = out_.location_of_address.try_emplace(address, 0);
    if (!inserted) return;
    PprofLocation loc;
    loc.address = address;
    const ResolvedAddress& r = resolve_(address);
    for (const SourceFrame& f : r.frames) {
      loc.lines.push_back(PprofLine{
          function_id(f.function, f.system_name.empty() ? f.function : f.system_name, f.file,
                      f.start_line),
          f.line});
    }
    if (r.mapping_index >= 0 && static_cast<size_t>(r.mapping_index) < mappings_.size()) {
      loc.mapping_id = static_cast<uint64_t>(r.mapping_index) + 1;
      MappingStats& s = stats_[static_cast<size_t>(r.mapping_index)];
      ++s.locations;
      s.all_symbolized = s.all_symbolized && r.symbolized && !r.frames.empty();
      s.all_file_line = s.all_file_line && r.has_file_line && !r.frames.empty();
      s.any_inline = s.any_inline || r.frames.size() > 1;
    }
    out_.locations.push_back(std::move(loc));
    it->second = out_.locations.size();
  }

  // A frame with no address and no mapping whose one Line names `name`.
  void add_synthetic(const std::string& name) {
    auto [it, inserted] = out_.location_of_synthetic.try_emplace(name, 0);
    if (!inserted) return;
    PprofLocation loc;
    loc.lines.push_back(PprofLine{function_id(name, name, {}, 0), 0});
    out_.locations.push_back(std::move(loc));
    it->second = out_.locations.size();
  }

 private:
  // Functions are told apart by their interned strings (equal text, equal index): no copy
  // of the text as a key, and a lookup hashes four integers. Interning a new function's
  // strings first adds them in the order the table always listed them.
  uint64_t function_id(const std::string& name, const std::string& system_name,
                       const std::string& file, int64_t start_line) {
    PprofFunction fn;
    fn.name = out_.strings.intern(name);
    fn.system_name = out_.strings.intern(system_name);
    fn.filename = out_.strings.intern(file);
    fn.start_line = start_line;
    auto [it, inserted] = functions_.try_emplace(FunctionKey{fn.name, fn.system_name,
                                                             fn.filename, start_line}, 0);
    if (!inserted) return it->second;
    out_.functions.push_back(fn);
    it->second = out_.functions.size();
    return it->second;
  }

  struct FunctionKey {
    int64_t name, system_name, filename, start_line;
    bool operator==(const FunctionKey&) const = default;
  };
  struct FunctionKeyHash {
    size_t operator()(const FunctionKey& k) const {
      uint64_t h = static_cast<uint64_t>(k.name) * 0x9e3779b97f4a7c15ULL;
      h = (h ^ static_cast<uint64_t>(k.system_name)) * 0x9e3779b97f4a7c15ULL;
      h = (h ^ static_cast<uint64_t>(k.filename)) * 0x9e3779b97f4a7c15ULL;
      h = (h ^ static_cast<uint64_t>(k.start_line)) * 0x9e3779b97f4a7c15ULL;
      return static_cast<size_t>(h ^ (h >> 29));
    }
  };

  SymbolizedProfile& out_;
  const std::vector<MappingInfo>& mappings_;
  const AddressResolver& resolve_;
  std::vector<MappingStats> stats_;
  std::unordered_map<FunctionKey, uint64_t, FunctionKeyHash> functions_;
};

void intern_labels(SymbolizedProfile& p, const std::vector<Label>& labels) {
  for (const Label& l : labels) {
    p.strings.intern(l.key);
    p.strings.intern(l.str.empty() ? l.num_unit : l.str);
  }
}

}  // namespace

SymbolizedProfile symbolize_profile(ProfileBuilder builder,
                                    const std::vector<MappingInfo>& mappings,
                                    const AddressResolver& resolve) {
  SymbolizedProfile out{std::move(builder), {}, {}, {}, {}, {}, {}};
  const ProfileBuilder& b = out.builder;
  const ProfileShape& shape = b.shape();
  // Interned in the order the message lists them, so the table reads naturally.
  for (const ValueType& v : shape.sample_types) {
    out.strings.intern(v.type);
    out.strings.intern(v.unit);
  }
  out.strings.intern(shape.period_type.type);
  out.strings.intern(shape.period_type.unit);
  out.strings.intern(shape.default_sample_type);
  for (const std::string& c : b.comments()) out.strings.intern(c);

  Resolver resolver(out, mappings, resolve);
  resolver.add_mappings();
  for (const auto& [key, values] : b.samples()) {
    if (key.synthetic != 0) resolver.add_synthetic(std::string(b.synthetic_name(key)));
    for (uint64_t address : key.stack) resolver.add_address(address);
    intern_labels(out, key.labels);
  }
  resolver.finish_mappings();
  return out;
}

SymbolizedProfile symbolize_profile(ProfileBuilder builder, Symbolizer& symbolizer) {
  symbolizer.refresh();
  return symbolize_profile(std::move(builder), symbolizer.mappings(),
                           [&symbolizer](uint64_t address) -> const ResolvedAddress& {
                             return symbolizer.resolve(address);
                           });
}

std::vector<uint64_t> SymbolizedProfile::location_ids(const ProfileBuilder::SampleKey& key) const {
  std::vector<uint64_t> ids;
  location_ids(key, ids);
  return ids;
}

void SymbolizedProfile::location_ids(const ProfileBuilder::SampleKey& key,
                                     std::vector<uint64_t>& ids) const {
  ids.clear();
  ids.reserve(key.stack.size() + 1);
  if (key.synthetic != 0) {
    auto it = location_of_synthetic.find(std::string(builder.synthetic_name(key)));
    ids.push_back(it == location_of_synthetic.end() ? 0 : it->second);
  }
  for (uint64_t address : key.stack) {
    auto it = location_of_address.find(address);
    ids.push_back(it == location_of_address.end() ? 0 : it->second);
  }
}

void SymbolizedProfile::replace_samples(ProfileBuilder samples) {
  ProfileBuilder kept(samples.shape());
  kept.set_time(samples.time_nanos(), samples.duration_nanos());
  for (const std::string& c : samples.comments()) kept.add_comment(c);
  for (const auto& [key, values] : samples.samples()) {
    bool known = key.synthetic == 0 ||
                 location_of_synthetic.count(std::string(samples.synthetic_name(key))) != 0;
    for (uint64_t address : key.stack)
      known = known && location_of_address.count(address) != 0;
    if (!known) continue;
    if (key.synthetic != 0)
      kept.add_synthetic_sample(samples.synthetic_name(key), values, key.labels);
    else
      kept.add_sample(key.stack, values, key.labels);
  }
  // The header's strings (a delta keeps the types, but its comments may be new).
  const ProfileShape& shape = kept.shape();
  for (const ValueType& v : shape.sample_types) {
    strings.intern(v.type);
    strings.intern(v.unit);
  }
  strings.intern(shape.period_type.type);
  strings.intern(shape.period_type.unit);
  strings.intern(shape.default_sample_type);
  for (const std::string& c : kept.comments()) strings.intern(c);
  for (const auto& [key, values] : kept.samples()) intern_labels(*this, key.labels);
  builder = std::move(kept);
}

}  // namespace profagent
