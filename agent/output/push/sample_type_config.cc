// sample_type_config JSON of a profile kind (sample_type_config.h). Keys and field names are
// Pyroscope's (pkg/og/storage/tree SampleTypeConfig: units, display-name, aggregation,
// cumulative, sampled). Every profile is pushed as the window it covers (deltas for the
// cumulative kinds), so nothing is marked cumulative; "sum" adds windows up (values that
// accumulate), "average" treats a value as a level (instantaneous values: in-use memory,
// thread counts).
#include "agent/output/push/sample_type_config.h"

namespace profagent {

std::string sample_type_config_json(const ProfileKind& kind) {
  std::string json = "{";
  for (const SampleTypeSpec& t : kind.sample_types) {
    if (json.size() > 1) json += ",";
    json += std::string("\"") + t.type + "\":{\"units\":\"" + t.push_units + "\"";
    if (t.push_display_name != nullptr)
      json += std::string(",\"display-name\":\"") + t.push_display_name + "\"";
    json += std::string(",\"aggregation\":\"") + (t.instantaneous ? "average" : "sum") + "\"";
    if (t.push_sampled) json += ",\"sampled\":true";
    json += "}";
  }
  return json + "}";
}

}  // namespace profagent
