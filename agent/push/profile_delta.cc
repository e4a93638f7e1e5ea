// Cumulative-to-delta conversion of encoded profiles (profile_delta.h), with the generated
// lite classes of proto/profile.proto.
#include "agent/push/profile_delta.h"

#include <algorithm>
#include <unordered_map>

#include "profile.pb.h"

namespace profagent {
namespace {

const std::string& str(const pprof::Profile& p, int64_t index) {
  static const std::string empty;
  return index >= 0 && index < p.string_table_size() ? p.string_table(static_cast<int>(index))
                                                     : empty;
}

// Stack (address and function names of each location, leaf first) and sorted labels.
std::string sample_key(const pprof::Profile& p, const pprof::Sample& s,
                       const std::unordered_map<uint64_t, const pprof::Location*>& locations,
                       const std::unordered_map<uint64_t, const pprof::Function*>& functions) {
  std::string key;
  for (uint64_t id : s.location_id()) {
    auto it = locations.find(id);
    if (it == locations.end()) {
      key += "?;";
      continue;
    }
    key += std::to_string(it->second->address());
    for (const pprof::Line& line : it->second->line()) {
      auto f = functions.find(line.function_id());
      key += '/';
      if (f != functions.end()) key += str(p, f->second->name());
    }
    key += ';';
  }
  std::vector<std::string> labels;
  for (const pprof::Label& l : s.label())
    labels.push_back(str(p, l.key()) + "=" + (l.str() ? str(p, l.str()) : std::to_string(l.num())) +
                     str(p, l.num_unit()));
  std::sort(labels.begin(), labels.end());
  key += '|';
  for (const std::string& l : labels) key += l + ',';
  return key;
}

}  // namespace

std::optional<DeltaResult> cumulative_delta(const ProfileKind& kind,
                                            std::string_view current_encoded,
                                            const CumulativeBaseline& base,
                                            int64_t start_unix_nanos, int64_t until_unix_nanos) {
  pprof::Profile profile;
  if (!profile.ParseFromArray(current_encoded.data(), static_cast<int>(current_encoded.size())))
    return std::nullopt;
  std::vector<bool> cumulative;
  for (int i = 0; i < profile.sample_type_size(); ++i)
    cumulative.push_back(subtracts_in_delta(kind, static_cast<size_t>(i)));

  std::unordered_map<uint64_t, const pprof::Location*> locations;
  for (const pprof::Location& l : profile.location()) locations[l.id()] = &l;
  std::unordered_map<uint64_t, const pprof::Function*> functions;
  for (const pprof::Function& f : profile.function()) functions[f.id()] = &f;

  DeltaResult result;
  result.current.time_unix_nanos = until_unix_nanos;
  std::unordered_map<std::string, std::vector<int64_t>> remaining = base.values;
  pprof::Profile out = profile;
  out.clear_sample();
  for (const pprof::Sample& s : profile.sample()) {
    std::string key = sample_key(profile, s, locations, functions);
    std::vector<int64_t>& cur = result.current.values[key];
    cur.resize(static_cast<size_t>(s.value_size()), 0);
    for (int i = 0; i < s.value_size(); ++i) cur[static_cast<size_t>(i)] += s.value(i);

    pprof::Sample d = s;
    auto rem = remaining.find(key);
    bool any = false;
    for (int i = 0; i < d.value_size(); ++i) {
      int64_t v = d.value(i);
      if (static_cast<size_t>(i) < cumulative.size() && cumulative[static_cast<size_t>(i)] &&
          rem != remaining.end() && static_cast<size_t>(i) < rem->second.size()) {
        int64_t before = rem->second[static_cast<size_t>(i)];
        rem->second[static_cast<size_t>(i)] = 0;  // a duplicate key subtracts it once
        v = v >= before ? v - before : v;         // went down: a reset, count from 0
      }
      d.set_value(i, v);
      any = any || v != 0;
    }
    if (any) *out.add_sample() = std::move(d);
  }
  int64_t from = base.time_unix_nanos != 0 ? base.time_unix_nanos : start_unix_nanos;
  if (from > 0 && until_unix_nanos > from) out.set_duration_nanos(until_unix_nanos - from);
  result.encoded = out.SerializeAsString();
  return result;
}

}  // namespace profagent
