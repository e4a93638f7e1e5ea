// Parser for `go tool pprof -raw` output, so e2e tests can check exact values with the
// reference reader doing the decoding.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace e2e {

struct RawLine {
  std::string function;     // display name
  std::string system_name;  // "" when equal to function
  std::string file;
  int64_t line = 0;
};

struct RawLocation {
  uint64_t id = 0;
  uint64_t address = 0;
  uint64_t mapping_id = 0;
  std::vector<RawLine> lines;  // innermost first
};

struct RawSample {
  std::vector<int64_t> values;
  std::vector<uint64_t> location_ids;  // leaf first
  std::map<std::string, std::vector<std::string>> labels;  // string and numeric, as printed
};

struct RawMapping {
  uint64_t id = 0, start = 0, limit = 0, offset = 0;
  std::string file, build_id, flags;  // flags like "[FN][FL][LN][IN]"
};

struct RawProfile {
  std::string period_type;  // "cpu nanoseconds"
  int64_t period = 0;
  bool has_time = false;
  int64_t time_unix_nanos = 0;  // from "Time: 2026-12-07 00:44:11.070110498 +0000 UTC"
  bool has_duration = false;
  std::vector<std::string> sample_types;  // "samples/count", default marked with "[dflt]"
  std::vector<RawSample> samples;
  std::map<uint64_t, RawLocation> locations;
  std::vector<RawMapping> mappings;
  std::vector<std::string> comments;

  int sample_index(const std::string& type) const;  // by type name ("cpu"), -1 if absent
  // Function names of a sample's stack, leaf first, inline frames expanded.
  std::vector<std::string> stack_functions(const RawSample& sample) const;
  int64_t total(int value_index) const;
  // Sum of value[value_index] over samples whose stack contains a function for which
  // pred(name) is true (cumulative), or whose leaf function matches (flat).
  int64_t cum(int value_index, const std::function<bool(const std::string&)>& pred) const;
  int64_t flat(int value_index, const std::function<bool(const std::string&)>& pred) const;
  // Convenience: substring match on the function name.
  int64_t cum_containing(int value_index, const std::string& needle) const;
  int64_t flat_containing(int value_index, const std::string& needle) const;
  // From the agent's comment "profagent unwinding: ...; N walks before them ...": the walks
  // made before the first unwind tables; -1 without that comment.
  long walks_before_first_tables() const;
};

// Whether a stack (stack_functions) has a function whose name starts with `prefix`.
bool has_function_starting(const std::vector<std::string>& stack, const std::string& prefix);

RawProfile parse_raw(const std::string& text);

}  // namespace e2e
