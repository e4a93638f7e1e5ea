// Builds one pprof Profile (docs/pprof-semantics.md is the contract): collectors add samples as
// raw location addresses; symbolize_profile() (symbolized_profile.h) resolves them, assigns
// ids and fills the string table, and SymbolizedProfile::encode() writes the protobuf by
// hand (proto_writer.h). Deltas (profile_delta.h) work on the samples here, before
// symbolization. Normal context only (allocates freely).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace profagent {

class Symbolizer;

// How a sample type's values relate from one profile of a kind to the next: the one rule
// that profile_delta() (HTTP ?seconds=, push) follows. Set by the collector in its shape.
enum class Accumulation : uint8_t {
  kCurrent,     // the state at the profile's time (inuse_*, threads) or its own window (cpu)
  kCumulative,  // a counter since the process started (alloc_*, contentions, delay)
};

struct ValueType {
  std::string type;
  std::string unit;
  Accumulation accumulation = Accumulation::kCurrent;  // meaningless for period_type
};

// Sample types, period and default of one profile kind (docs/pprof-semantics.md §4).
struct ProfileShape {
  std::vector<ValueType> sample_types;
  ValueType period_type;
  int64_t period = 1;
  std::string default_sample_type;  // "" = unset

  // True if any sample type is Accumulation::kCumulative.
  bool has_cumulative() const;
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
  // sample type. Samples with equal stack and labels are merged by adding values (saturating
  // at the int64 limits). A sample whose value count differs from the number of sample types
  // is dropped and counted in dropped_samples(). A numeric label with num == 0 and no unit is
  // not kept: pprof's reader drops it anyway, and keeping it would split samples that pprof
  // then shows as identical.
  void add_sample(std::span<const uint64_t> stack, std::span<const int64_t> values,
                  std::vector<Label> labels = {});
  // The same, taking over `stack` (no copy of the addresses).
  void add_sample(std::vector<uint64_t>&& stack, std::span<const int64_t> values,
                  std::vector<Label> labels = {});

  // A sample whose stack is one synthetic frame with this function name and no address,
  // e.g. "[profagent: lost]" (docs/pprof-semantics.md §5.4), so totals stay honest.
  void add_synthetic_sample(std::string_view frame_name, std::span<const int64_t> values,
                            std::vector<Label> labels = {});

  size_t sample_count() const { return samples_.size(); }
  // Samples refused by add_sample/add_synthetic_sample because their value count did not
  // match the number of sample types (added so a caller can log the bad input instead of
  // writing a profile pprof rejects with "mismatch: sample has X values vs. Y types").
  size_t dropped_samples() const { return dropped_samples_; }
  const ProfileShape& shape() const { return shape_; }
  // Profile.default_sample_type ("" = unset), e.g. alloc_space for /debug/pprof/allocs.
  void set_default_sample_type(std::string type) { shape_.default_sample_type = std::move(type); }

  // What the samples are keyed by: equal keys are one sample.
  struct SampleKey {
    std::vector<uint64_t> stack;      // addresses, leaf first (empty for a synthetic sample)
    // 1 + index into synthetic_frames() for a synthetic sample, 0 for a real stack. Kept
    // apart from `stack` so no address (e.g. a bogus 0 - 1 from a broken unwind) can be
    // mistaken for a synthetic frame.
    uint32_t synthetic = 0;
    std::vector<Label> labels;        // sorted, numeric 0-without-unit labels removed
    bool operator<(const SampleKey& o) const;
  };
  using SampleMap = std::map<SampleKey, std::vector<int64_t>>;

  // Read access for the symbolizing, delta and text steps.
  const SampleMap& samples() const { return samples_; }
  const std::vector<std::string>& synthetic_frames() const { return synthetic_frames_; }
  // The synthetic frame name of `key`, "" for a real stack.
  std::string_view synthetic_name(const SampleKey& key) const {
    return key.synthetic == 0 ? std::string_view() : synthetic_frames_[key.synthetic - 1];
  }
  const std::vector<std::string>& comments() const { return comments_; }
  int64_t time_nanos() const { return time_nanos_; }
  int64_t duration_nanos() const { return duration_nanos_; }

  // The serialized Profile message (not compressed): symbolize_profile() with `symbolizer`,
  // then SymbolizedProfile::encode().
  std::string encode(Symbolizer& symbolizer) const;
  // encode() gzipped (level 1, as Go does).
  std::string encode_gzipped(Symbolizer& symbolizer) const;

  // Helpers for collectors.
  static Label num_label(std::string key, int64_t value, std::string unit = {});
  static Label str_label(std::string key, std::string value);

 private:
  // Validates `values`, normalizes `labels` and merges the sample into samples_.
  void insert(SampleKey key, std::span<const int64_t> values);

  ProfileShape shape_;
  int64_t time_nanos_ = 0;
  int64_t duration_nanos_ = 0;
  std::vector<std::string> comments_;
  std::vector<std::string> synthetic_frames_;  // distinct names, in first-use order
  size_t dropped_samples_ = 0;
  SampleMap samples_;
};

// gzip (RFC 1952) of `data` at `level` (libdeflate; gzip.cc). Input shorter than
// kGzipStoredBelow is stored (deflate's uncompressed blocks) at any level: see gzip.cc.
inline constexpr size_t kGzipStoredBelow = 16 << 10;
std::string gzip_compress(std::string_view data, int level = 1);

}  // namespace profagent
