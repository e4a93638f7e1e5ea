// Builds one pprof Profile (pprof-semantics.md is the contract): collectors add samples as
// raw location addresses; encode() symbolizes them, assigns ids, fills the string table and
// returns the gzipped protobuf. Normal context only (allocates freely).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace profagent {

class Symbolizer;

struct ValueType {
  std::string type;
  std::string unit;
};

// Sample types, period and default of one profile kind (pprof-semantics.md §4).
struct ProfileShape {
  std::vector<ValueType> sample_types;
  ValueType period_type;
  int64_t period = 1;
  std::string default_sample_type;  // "" = unset
};

struct Label {
  std::string key;
  std::string str;        // string label when non-empty
  int64_t num = 0;        // numeric label otherwise
  std::string num_unit;   // optional
  bool operator<(const Label& o) const;
  bool operator==(const Label& o) const = default;
};

class ProfileBuilder {
 public:
  explicit ProfileBuilder(ProfileShape shape);

  // time_nanos (wall clock, ns since epoch) and duration_nanos (0 = not written).
  void set_time(int64_t time_nanos, int64_t duration_nanos = 0);
  void add_comment(std::string comment);

  // One sample: `stack` holds location addresses, leaf first; `values` has one entry per
  // sample type. Samples with equal stack and labels are merged by adding values.
  void add_sample(std::span<const uint64_t> stack, std::span<const int64_t> values,
                  std::vector<Label> labels = {});

  // A sample whose stack is one synthetic frame with this function name and no address,
  // e.g. "[profagent: lost]" (pprof-semantics.md §5.4), so totals stay honest.
  void add_synthetic_sample(std::string_view frame_name, std::span<const int64_t> values,
                            std::vector<Label> labels = {});

  size_t sample_count() const { return samples_.size(); }
  const ProfileShape& shape() const { return shape_; }

  // The serialized Profile message (not compressed). Symbolizes with `symbolizer`.
  std::string encode(Symbolizer& symbolizer) const;
  // encode() gzipped (level 1, as Go does).
  std::string encode_gzipped(Symbolizer& symbolizer) const;

  // Helpers for collectors.
  static Label num_label(std::string key, int64_t value, std::string unit = {});
  static Label str_label(std::string key, std::string value);

 private:
  struct SampleKey {
    std::vector<uint64_t> stack;      // addresses; a synthetic frame is stored as ~index
    std::vector<Label> labels;        // sorted
    bool operator<(const SampleKey& o) const;
  };

  ProfileShape shape_;
  int64_t time_nanos_ = 0;
  int64_t duration_nanos_ = 0;
  std::vector<std::string> comments_;
  std::vector<std::string> synthetic_frames_;
  std::map<SampleKey, std::vector<int64_t>> samples_;
};

// gzip (RFC 1952) of `data` at `level` with zlib.
std::string gzip_compress(std::string_view data, int level = 1);

}  // namespace profagent
