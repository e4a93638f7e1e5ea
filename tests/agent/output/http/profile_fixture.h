// Test helper: small symbolized profiles built by hand (a function name per address, file
// f.c, line = address % 100) for the text-renderer tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent::testing {

class ProfileFixture {
 public:
  explicit ProfileFixture(std::initializer_list<std::pair<std::string, std::string>> types) {
    for (const auto& [t, u] : types) shape_.sample_types.push_back({t, u});
    builder = ProfileBuilder(shape_);
  }
  // `address` resolves to `names` (innermost first; the outermost gets file f.c and line
  // address % 100, inlined ones no file).
  uint64_t location(uint64_t address, std::vector<std::string> names) {
    ResolvedAddress& r = table_[address];
    r.mapping_index = 0;
    r.symbolized = true;
    for (size_t i = 0; i < names.size(); ++i) {
      bool outer = i + 1 == names.size();
      r.frames.push_back(SourceFrame{names[i], "", outer ? "f.c" : "",
                                     outer ? static_cast<int64_t>(address % 100) : 7, 0});
    }
    return address;
  }
  uint64_t location(uint64_t address, const std::string& name) {
    return location(address, std::vector<std::string>{name});
  }
  SymbolizedProfile symbolized() const {
    return symbolize_profile(builder, {{0, ~uint64_t{0}, 0, "/bin/app", ""}},
                             [this](uint64_t a) -> const ResolvedAddress& { return table_.at(a); });
  }
  ProfileBuilder builder{ProfileShape{}};

 private:
  ProfileShape shape_;
  std::map<uint64_t, ResolvedAddress> table_;
};

}  // namespace profagent::testing
