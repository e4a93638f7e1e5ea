// profile_delta() (profile_delta.h). Normal context.
#include "agent/profile/pprof/profile_delta.h"

#include <map>
#include <string>
#include <tuple>
#include <vector>

namespace profagent {
namespace {

// A sample's identity across two builders (their synthetic frame indices differ).
using Identity = std::tuple<std::string_view, const std::vector<uint64_t>&,
                            const std::vector<Label>&>;

Identity identity(const ProfileBuilder& b, const ProfileBuilder::SampleKey& key) {
  return Identity(b.synthetic_name(key), key.stack, key.labels);
}

bool same_types(const ProfileShape& a, const ProfileShape& b) {
  if (a.sample_types.size() != b.sample_types.size()) return false;
  for (size_t i = 0; i < a.sample_types.size(); ++i)
    if (a.sample_types[i].type != b.sample_types[i].type ||
        a.sample_types[i].unit != b.sample_types[i].unit)
      return false;
  return true;
}

}  // namespace

std::optional<ProfileBuilder> profile_delta(const ProfileBuilder& before,
                                            const ProfileBuilder& after) {
  const ProfileShape& shape = after.shape();
  if (!same_types(before.shape(), shape)) return std::nullopt;

  std::map<Identity, const std::vector<int64_t>*> earlier;
  for (const auto& [key, values] : before.samples())
    earlier.emplace(identity(before, key), &values);

  ProfileBuilder out(shape);
  for (const std::string& c : after.comments()) out.add_comment(c);
  if (before.time_nanos() != 0 && after.time_nanos() > before.time_nanos())
    out.set_time(before.time_nanos(), after.time_nanos() - before.time_nanos());
  else
    out.set_time(after.time_nanos(), after.duration_nanos());

  std::vector<int64_t> delta;
  for (const auto& [key, values] : after.samples()) {
    auto it = earlier.find(identity(after, key));
    delta = values;
    bool any = false;
    for (size_t i = 0; i < delta.size(); ++i) {
      if (shape.sample_types[i].accumulation == Accumulation::kCumulative &&
          it != earlier.end()) {
        int64_t was = (*it->second)[i];
        if (delta[i] >= was) delta[i] -= was;  // below: a reset, counted from 0
      }
      any = any || delta[i] != 0;
    }
    if (!any) continue;
    if (key.synthetic != 0)
      out.add_synthetic_sample(after.synthetic_name(key), delta, key.labels);
    else
      out.add_sample(key.stack, delta, key.labels);
  }
  return out;
}

}  // namespace profagent
