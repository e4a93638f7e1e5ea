// sample_type_config JSON per profile kind (sample_type_config.h). Keys and field names are
// Pyroscope's (pkg/og/storage/tree SampleTypeConfig: units, display-name, aggregation,
// cumulative, sampled). Every profile is pushed as the window it covers (deltas for the
// cumulative types), so nothing is marked cumulative; "sum" adds windows up, "average"
// treats a value as a level (in-use memory, thread counts). The display names decide the
// profile's name in Pyroscope: a "cpu" name gives process_cpu, "alloc_"/"inuse_" give
// memory, "mutex_" gives mutex and "block_" gives block (without them a block profile would
// be taken for a mutex one: both have contentions/delay).
#include "agent/push/sample_type_config.h"

namespace profagent {

std::string sample_type_config_json(std::string_view kind) {
  if (kind == "cpu")
    return R"({"samples":{"units":"samples","display-name":"cpu","aggregation":"sum","sampled":true},)"
           R"("cpu":{"units":"nanoseconds","display-name":"cpu","aggregation":"sum","sampled":true}})";
  if (kind == "heap")
    return R"({"alloc_objects":{"units":"objects","aggregation":"sum"},)"
           R"("alloc_space":{"units":"bytes","aggregation":"sum"},)"
           R"("inuse_objects":{"units":"objects","aggregation":"average"},)"
           R"("inuse_space":{"units":"bytes","aggregation":"average"}})";
  if (kind == "mutex")
    return R"({"contentions":{"units":"lock_samples","display-name":"mutex_count","aggregation":"sum"},)"
           R"("delay":{"units":"lock_nanoseconds","display-name":"mutex_duration","aggregation":"sum"}})";
  if (kind == "block")
    return R"({"contentions":{"units":"lock_samples","display-name":"block_count","aggregation":"sum"},)"
           R"("delay":{"units":"lock_nanoseconds","display-name":"block_duration","aggregation":"sum"}})";
  if (kind == "wall")
    return R"({"samples":{"units":"samples","display-name":"wall_samples","aggregation":"sum","sampled":true},)"
           R"("wall":{"units":"nanoseconds","display-name":"wall","aggregation":"sum","sampled":true}})";
  if (kind == "threads")
    return R"({"threads":{"units":"threads","display-name":"threads","aggregation":"average"}})";
  return "";
}

bool is_cumulative_sample_type(std::string_view type) {
  return type == "alloc_objects" || type == "alloc_space" || type == "contentions" ||
         type == "delay";
}

}  // namespace profagent
