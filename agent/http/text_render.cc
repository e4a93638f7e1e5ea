// Text forms of decoded profiles (see text_render.h). Normal context.
#include "agent/http/text_render.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>
#include <vector>

namespace profagent {
namespace {

class Index {
 public:
  explicit Index(const pprof::Profile& p) : p_(p) {
    for (int i = 0; i < p.location_size(); ++i) locations_[p.location(i).id()] = &p.location(i);
    for (int i = 0; i < p.function_size(); ++i) functions_[p.function(i).id()] = &p.function(i);
  }
  const std::string& str(int64_t i) const {
    static const std::string empty;
    return i >= 0 && i < p_.string_table_size() ? p_.string_table(static_cast<int>(i)) : empty;
  }
  const pprof::Location* location(uint64_t id) const {
    auto it = locations_.find(id);
    return it == locations_.end() ? nullptr : it->second;
  }
  const pprof::Function* function(uint64_t id) const {
    auto it = functions_.find(id);
    return it == functions_.end() ? nullptr : it->second;
  }
  // (function name, "file:line") of every frame at a location, innermost first.
  std::vector<std::pair<std::string, std::string>> frames(const pprof::Location& loc) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const pprof::Line& line : loc.line()) {
      const pprof::Function* f = function(line.function_id());
      std::string name = f != nullptr ? str(f->name()) : "";
      std::string where = f != nullptr ? str(f->filename()) : "";
      if (!where.empty() && line.line() > 0) where += ":" + std::to_string(line.line());
      out.emplace_back(name.empty() ? "?" : name, where);
    }
    if (out.empty()) out.emplace_back("?", "");
    return out;
  }
  std::string label(const pprof::Sample& s, const std::string& key) const {
    for (const pprof::Label& l : s.label()) {
      if (str(l.key()) != key) continue;
      return l.str() != 0 ? str(l.str()) : std::to_string(l.num());
    }
    return "";
  }

 private:
  const pprof::Profile& p_;
  std::unordered_map<uint64_t, const pprof::Location*> locations_;
  std::unordered_map<uint64_t, const pprof::Function*> functions_;
};

std::string hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

}  // namespace

std::string render_grouped_text(const pprof::Profile& profile, const std::string& name) {
  Index index(profile);
  // Group by stack (the location ids of one encoding identify the stack exactly).
  std::map<std::vector<uint64_t>, std::vector<int64_t>> groups;
  int64_t total = 0;
  for (const pprof::Sample& s : profile.sample()) {
    std::vector<uint64_t> stack(s.location_id().begin(), s.location_id().end());
    std::vector<int64_t>& v = groups[stack];
    v.resize(std::max<size_t>(v.size(), s.value_size()));
    for (int i = 0; i < s.value_size(); ++i) v[i] += s.value(i);
    if (s.value_size() > 0) total += s.value(0);
  }
  std::vector<std::pair<std::vector<uint64_t>, std::vector<int64_t>>> sorted(groups.begin(),
                                                                             groups.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    int64_t va = a.second.empty() ? 0 : a.second[0], vb = b.second.empty() ? 0 : b.second[0];
    return va > vb;
  });

  std::string out = name + " profile: total " + std::to_string(total) + "\n";
  if (profile.sample_type_size() > 1) {
    out += "# values:";
    for (const pprof::ValueType& t : profile.sample_type())
      out += " " + index.str(t.type()) + "/" + index.str(t.unit());
    out += "\n";
  }
  for (const auto& [stack, values] : sorted) {
    out += "\n";
    for (size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + std::to_string(values[i]);
    out += " @";
    for (uint64_t id : stack) {
      const pprof::Location* loc = index.location(id);
      out += " " + hex(loc != nullptr ? loc->address() : 0);
    }
    out += "\n";
    for (uint64_t id : stack) {
      const pprof::Location* loc = index.location(id);
      if (loc == nullptr) continue;
      for (const auto& [fn, where] : index.frames(*loc))
        out += "#\t" + hex(loc->address()) + "\t" + fn + (where.empty() ? "" : "\t" + where) +
               "\n";
    }
  }
  return out;
}

std::string render_thread_dump(const pprof::Profile& profile) {
  Index index(profile);
  struct Entry {
    int64_t tid;
    const pprof::Sample* sample;
  };
  std::vector<Entry> entries;
  for (const pprof::Sample& s : profile.sample()) {
    std::string tid = index.label(s, "tid");
    entries.push_back({tid.empty() ? -1 : strtoll(tid.c_str(), nullptr, 10), &s});
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.tid < b.tid; });
  std::string out;
  for (const Entry& e : entries) {
    std::string name = index.label(*e.sample, "thread_name");
    out += "thread " + (e.tid < 0 ? std::string("?") : std::to_string(e.tid)) + " [" +
           (name.empty() ? "?" : name) + "]";
    if (e.sample->value_size() > 0 && e.sample->value(0) > 1)
      out += " x" + std::to_string(e.sample->value(0));
    out += ":\n";
    for (uint64_t id : e.sample->location_id()) {
      const pprof::Location* loc = index.location(id);
      if (loc == nullptr) continue;
      for (const auto& [fn, where] : index.frames(*loc)) {
        out += fn + "()\n\t" + (where.empty() ? "?" : where) + " " + hex(loc->address()) + "\n";
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace profagent
