// The pprof string table of one encode(): interns each distinct string once, index 0 is ""
// (docs/pprof-semantics.md §2, §9.1). Normal context only (allocates).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace profagent::pprof_internal {

class StringTable {
 public:
  StringTable() { strings_.emplace_back(); }

  // Index of `s`, adding it on first use. "" is always 0.
  int64_t intern(std::string_view s) {
    if (s.empty()) return 0;
    auto it = index_.find(s);
    if (it != index_.end()) return it->second;
    const auto idx = static_cast<int64_t>(strings_.size());
    strings_.emplace_back(s);
    index_.emplace(strings_.back(), idx);
    return idx;
  }

  // Index of `s` if interned, otherwise 0 ("").
  int64_t index_of(std::string_view s) const {
    auto it = index_.find(s);
    return it == index_.end() ? 0 : it->second;
  }

  const std::vector<std::string>& strings() const { return strings_; }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<std::string> strings_;
  // Keys own their text: strings_ may reallocate, so views into it would dangle.
  std::unordered_map<std::string, int64_t, Hash, std::equal_to<>> index_;
};

}  // namespace profagent::pprof_internal
