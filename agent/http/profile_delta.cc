// Delta of two decoded profiles (see profile_delta.h). Normal context.
#include "agent/http/profile_delta.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace profagent {
namespace {

// A sample's identity independent of the ids and string indices of its profile.
using SampleIdentity = std::string;

class Decoded {
 public:
  explicit Decoded(const pprof::Profile& p) : p_(p) {
    for (int i = 0; i < p.location_size(); ++i) locations_[p.location(i).id()] = i;
    for (int i = 0; i < p.function_size(); ++i) functions_[p.function(i).id()] = i;
  }
  const std::string& str(int64_t i) const {
    static const std::string empty;
    return i >= 0 && i < p_.string_table_size() ? p_.string_table(static_cast<int>(i)) : empty;
  }
  SampleIdentity identity(const pprof::Sample& s) const {
    std::string key;
    for (uint64_t id : s.location_id()) {
      auto it = locations_.find(id);
      if (it == locations_.end()) { key += "?;"; continue; }
      const pprof::Location& loc = p_.location(it->second);
      key += std::to_string(loc.address());
      for (const pprof::Line& line : loc.line()) {
        auto f = functions_.find(line.function_id());
        key += '|';
        if (f != functions_.end()) key += str(p_.function(f->second).name());
        key += ':' + std::to_string(line.line());
      }
      key += ';';
    }
    std::vector<std::string> labels;
    for (const pprof::Label& l : s.label())
      labels.push_back(str(l.key()) + "=" + str(l.str()) + "#" + std::to_string(l.num()) +
                       str(l.num_unit()));
    std::sort(labels.begin(), labels.end());
    for (const std::string& l : labels) key += "\x1f" + l;
    return key;
  }

 private:
  const pprof::Profile& p_;
  std::unordered_map<uint64_t, int> locations_, functions_;
};

}  // namespace

bool subtract_profiles(const pprof::Profile& before, const pprof::Profile& after,
                       pprof::Profile* out) {
  Decoded b(before), a(after);
  if (before.sample_type_size() != after.sample_type_size()) return false;
  std::vector<bool> is_state(after.sample_type_size());
  for (int i = 0; i < after.sample_type_size(); ++i) {
    const std::string& tb = b.str(before.sample_type(i).type());
    const std::string& ta = a.str(after.sample_type(i).type());
    if (tb != ta) return false;
    is_state[i] = ta.rfind("inuse_", 0) == 0;
  }
  std::unordered_map<SampleIdentity, std::vector<int64_t>> earlier;
  for (const pprof::Sample& s : before.sample()) {
    std::vector<int64_t>& v = earlier[b.identity(s)];
    v.resize(s.value_size());
    for (int i = 0; i < s.value_size(); ++i) v[i] += s.value(i);
  }

  *out = after;
  out->clear_sample();
  for (const pprof::Sample& s : after.sample()) {
    pprof::Sample d = s;
    auto it = earlier.find(a.identity(s));
    bool any = false;
    for (int i = 0; i < d.value_size(); ++i) {
      if (!is_state[i] && it != earlier.end() && i < static_cast<int>(it->second.size()))
        d.set_value(i, d.value(i) - it->second[i]);
      any = any || d.value(i) != 0;
    }
    if (any) *out->add_sample() = std::move(d);
  }
  out->set_time_nanos(before.time_nanos());
  out->set_duration_nanos(after.time_nanos() - before.time_nanos());
  return true;
}

}  // namespace profagent
