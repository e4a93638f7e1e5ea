// ProfileBuilder's collection side: validates and merges samples (equal stack and labels add
// their values), normalizes labels, and the label helpers. encode() lives in
// profile_encode.cc. Normal context only (allocates).
#include "agent/profile/pprof/profile_builder.h"

#include <algorithm>
#include <limits>
#include <tuple>
#include <utility>

namespace profagent {

bool Label::operator<(const Label& o) const {
  return std::tie(key, str, num, num_unit) < std::tie(o.key, o.str, o.num, o.num_unit);
}

bool ProfileBuilder::SampleKey::operator<(const SampleKey& o) const {
  return std::tie(synthetic, stack, labels) < std::tie(o.synthetic, o.stack, o.labels);
}

bool ProfileShape::has_cumulative() const {
  return std::any_of(sample_types.begin(), sample_types.end(), [](const ValueType& t) {
    return t.accumulation == Accumulation::kCumulative;
  });
}

ProfileBuilder::ProfileBuilder(ProfileShape shape) : shape_(std::move(shape)) {}

void ProfileBuilder::set_time(int64_t time_nanos, int64_t duration_nanos) {
  time_nanos_ = time_nanos;
  duration_nanos_ = duration_nanos;
}

void ProfileBuilder::add_comment(std::string comment) { comments_.push_back(std::move(comment)); }

void ProfileBuilder::add_sample(std::span<const uint64_t> stack,
                                std::span<const int64_t> values, std::vector<Label> labels) {
  SampleKey key;
  key.stack.assign(stack.begin(), stack.end());
  key.labels = std::move(labels);
  insert(std::move(key), values);
}

void ProfileBuilder::add_sample(std::vector<uint64_t>&& stack, std::span<const int64_t> values,
                                std::vector<Label> labels) {
  SampleKey key;
  key.stack = std::move(stack);
  key.labels = std::move(labels);
  insert(std::move(key), values);
}

void ProfileBuilder::add_synthetic_sample(std::string_view frame_name,
                                          std::span<const int64_t> values,
                                          std::vector<Label> labels) {
  if (values.size() != shape_.sample_types.size()) {
    ++dropped_samples_;  // checked before a name is recorded for a sample never written
    return;
  }
  auto it = std::find(synthetic_frames_.begin(), synthetic_frames_.end(), frame_name);
  size_t index = static_cast<size_t>(it - synthetic_frames_.begin());
  if (it == synthetic_frames_.end()) synthetic_frames_.emplace_back(frame_name);
  SampleKey key;
  key.synthetic = static_cast<uint32_t>(index + 1);
  key.labels = std::move(labels);
  insert(std::move(key), values);
}

namespace {

int64_t saturating_add(int64_t a, int64_t b) {
  int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

}  // namespace

void ProfileBuilder::insert(SampleKey key, std::span<const int64_t> values) {
  if (values.size() != shape_.sample_types.size()) {
    ++dropped_samples_;
    return;
  }
  // pprof drops a numeric label with num == 0 and no unit on read (docs/pprof-semantics.md §2
  // Label); dropping it here keeps such samples merged the way pprof will show them.
  // (A string label with an empty value is that same label on the wire.) A string label's
  // num and unit are ignored by pprof, so they are cleared to merge what pprof merges.
  std::erase_if(key.labels, [](const Label& l) {
    return l.str.empty() && l.num == 0 && l.num_unit.empty();
  });
  for (Label& l : key.labels) {
    if (!l.str.empty()) {
      l.num = 0;
      l.num_unit.clear();
    }
  }
  std::sort(key.labels.begin(), key.labels.end());
  auto [it, inserted] = samples_.try_emplace(std::move(key));
  if (inserted) {
    it->second.assign(values.begin(), values.end());
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    it->second[i] = saturating_add(it->second[i], values[i]);
  }
}

std::string ProfileBuilder::encode_gzipped(Symbolizer& symbolizer) const {
  return gzip_compress(encode(symbolizer), 1);
}

Label ProfileBuilder::num_label(std::string key, int64_t value, std::string unit) {
  Label l;
  l.key = std::move(key);
  l.num = value;
  l.num_unit = std::move(unit);
  return l;
}

Label ProfileBuilder::str_label(std::string key, std::string value) {
  Label l;
  l.key = std::move(key);
  l.str = std::move(value);
  return l;
}

}  // namespace profagent
