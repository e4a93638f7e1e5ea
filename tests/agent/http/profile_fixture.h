// Test helper: builds small decoded pprof Profiles by hand (function names, addresses,
// labels) for the delta and text-renderer tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "profile.pb.h"

namespace profagent::testing {

class ProfileFixture {
 public:
  explicit ProfileFixture(std::initializer_list<std::pair<std::string, std::string>> types)
      : ProfileFixture(std::vector<std::pair<std::string, std::string>>(types)) {}
  explicit ProfileFixture(const std::vector<std::pair<std::string, std::string>>& types) {
    p.add_string_table("");
    for (auto& [t, u] : types) {
      auto* vt = p.add_sample_type();
      vt->set_type(str(t));
      vt->set_unit(str(u));
    }
  }
  int64_t str(const std::string& s) {
    for (int i = 0; i < p.string_table_size(); ++i)
      if (p.string_table(i) == s) return i;
    p.add_string_table(s);
    return p.string_table_size() - 1;
  }
  // A location at `address` for function `name` (file f.c, line = decimal address % 100); ids in
  // insertion order, offset by `id_base` so two fixtures use different id spaces.
  uint64_t location(uint64_t address, const std::string& name) {
    uint64_t id = id_base + static_cast<uint64_t>(p.location_size()) + 1;
    auto* f = p.add_function();
    f->set_id(id);
    f->set_name(str(name));
    f->set_filename(str("f.c"));
    auto* l = p.add_location();
    l->set_id(id);
    l->set_address(address);
    auto* line = l->add_line();
    line->set_function_id(id);
    line->set_line(static_cast<int64_t>(address % 100));
    return id;
  }
  pprof::Sample* sample(std::vector<uint64_t> locations, std::vector<int64_t> values) {
    auto* s = p.add_sample();
    for (uint64_t id : locations) s->add_location_id(id);
    for (int64_t v : values) s->add_value(v);
    return s;
  }
  void num_label(pprof::Sample* s, const std::string& key, int64_t num) {
    auto* l = s->add_label();
    l->set_key(str(key));
    l->set_num(num);
  }
  void str_label(pprof::Sample* s, const std::string& key, const std::string& value) {
    auto* l = s->add_label();
    l->set_key(str(key));
    l->set_str(str(value));
  }
  pprof::Profile p;
  uint64_t id_base = 0;
};

}  // namespace profagent::testing
