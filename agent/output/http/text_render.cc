// Text forms of symbolized profiles (see text_render.h). Normal context.
#include "agent/output/http/text_render.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <vector>

namespace profagent {
namespace {

std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

const PprofLocation* location(const SymbolizedProfile& p, uint64_t id) {
  return id >= 1 && id <= p.locations.size() ? &p.locations[id - 1] : nullptr;
}

// (function name, "file:line") of every frame at a location, innermost first.
std::vector<std::pair<std::string, std::string>> frames(const SymbolizedProfile& p,
                                                        const PprofLocation& loc) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const PprofLine& line : loc.lines) {
    const PprofFunction* f = line.function_id >= 1 && line.function_id <= p.functions.size()
                                 ? &p.functions[line.function_id - 1]
                                 : nullptr;
    std::string name = f != nullptr ? p.str(f->name) : "";
    std::string where = f != nullptr ? p.str(f->filename) : "";
    if (!where.empty() && line.line > 0) where += ":" + std::to_string(line.line);
    out.emplace_back(name.empty() ? "?" : name, where);
  }
  if (out.empty()) out.emplace_back("?", "");
  return out;
}

const Label* find_label(const ProfileBuilder::SampleKey& key, const std::string& name) {
  for (const Label& l : key.labels)
    if (l.key == name) return &l;
  return nullptr;
}

}  // namespace

std::string render_grouped_text(const SymbolizedProfile& profile, const std::string& name) {
  // Group by stack (the location ids of one profile identify the stack exactly).
  std::map<std::vector<uint64_t>, std::vector<int64_t>> groups;
  int64_t total = 0;
  for (const auto& [key, values] : profile.builder.samples()) {
    std::vector<int64_t>& v = groups[profile.location_ids(key)];
    v.resize(std::max(v.size(), values.size()));
    for (size_t i = 0; i < values.size(); ++i) v[i] += values[i];
    if (!values.empty()) total += values[0];
  }
  std::vector<std::pair<std::vector<uint64_t>, std::vector<int64_t>>> sorted(groups.begin(),
                                                                             groups.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    int64_t va = a.second.empty() ? 0 : a.second[0], vb = b.second.empty() ? 0 : b.second[0];
    return va > vb;
  });

  std::string out = name + " profile: total " + std::to_string(total) + "\n";
  const std::vector<ValueType>& types = profile.builder.shape().sample_types;
  if (types.size() > 1) {
    out += "# values:";
    for (const ValueType& t : types) out += " " + t.type + "/" + t.unit;
    out += "\n";
  }
  for (const auto& [stack, values] : sorted) {
    out += "\n";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + std::to_string(values[i]);
    out += " @";
    for (uint64_t id : stack) {
      const PprofLocation* loc = location(profile, id);
      out += " " + hex(loc != nullptr ? loc->address : 0);
    }
    out += "\n";
    for (uint64_t id : stack) {
      const PprofLocation* loc = location(profile, id);
      if (loc == nullptr) continue;
      for (const auto& [fn, where] : frames(profile, *loc))
        out += "#\t" + hex(loc->address) + "\t" + fn + (where.empty() ? "" : "\t" + where) +
               "\n";
    }
  }
  return out;
}

std::string render_thread_dump(const SymbolizedProfile& profile) {
  struct Entry {
    int64_t tid;
    const ProfileBuilder::SampleKey* key;
    const std::vector<int64_t>* values;
  };
  std::vector<Entry> entries;
  for (const auto& [key, values] : profile.builder.samples()) {
    const Label* tid = find_label(key, "tid");
    entries.push_back({tid != nullptr && tid->str.empty() ? tid->num : -1, &key, &values});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.tid < b.tid; });
  std::string out;
  for (const Entry& e : entries) {
    const Label* name = find_label(*e.key, "thread_name");
    std::string thread = name != nullptr ? (name->str.empty() ? std::to_string(name->num) : name->str)
                                         : "";
    out += "thread " + (e.tid < 0 ? std::string("?") : std::to_string(e.tid)) + " [" +
           (thread.empty() ? "?" : thread) + "]";
    if (!e.values->empty() && (*e.values)[0] > 1) out += " x" + std::to_string((*e.values)[0]);
    out += ":\n";
    for (uint64_t id : profile.location_ids(*e.key)) {
      const PprofLocation* loc = location(profile, id);
      if (loc == nullptr) continue;
      for (const auto& [fn, where] : frames(profile, *loc))
        out += fn + "()\n\t" + (where.empty() ? "?" : where) + " " + hex(loc->address) + "\n";
    }
    out += "\n";
  }
  return out;
}

}  // namespace profagent
