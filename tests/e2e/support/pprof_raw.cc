// Parser for `go tool pprof -raw` text (google/pprof profile.String() format, pprof 1.19).
#include "tests/e2e/support/pprof_raw.h"

#include <cstdio>
#include <ctime>
#include <regex>
#include <sstream>

namespace e2e {
namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// "2026-12-07 00:44:11.070110498 +0000 UTC" (how pprof -raw prints time_nanos) to ns since the
// epoch; 0 if it does not parse.
int64_t parse_pprof_time(const std::string& text) {
  std::tm tm{};
  char frac[16] = {0};
  if (sscanf(text.c_str(), "%d-%d-%d %d:%d:%d.%15[0-9]", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec, frac) < 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t nanos = 0;
  for (int i = 0; i < 9; ++i)
    nanos = nanos * 10 + (frac[i] >= '0' && frac[i] <= '9' ? frac[i] - '0' : 0);
  return static_cast<int64_t>(timegm(&tm)) * 1000000000 + nanos;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(' ');
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(' ');
  return s.substr(b, e - b + 1);
}

// "key:[v1 v2] key2:[v]" -> map. Values may not contain "] " sequences (good enough here).
void parse_labels(const std::string& text, std::map<std::string, std::vector<std::string>>* out) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t colon = text.find(":[", pos);
    if (colon == std::string::npos) break;
    std::string key = trim(text.substr(pos, colon - pos));
    size_t close = text.find("]", colon);
    // A value list ends at "]" followed by end or " key:[".
    while (close != std::string::npos && close + 1 < text.size() &&
           !std::regex_search(text.substr(close + 1), std::regex("^ [^ \\[\\]]+:\\[")))
      close = text.find("]", close + 1);
    if (close == std::string::npos) close = text.size();
    std::string values = text.substr(colon + 2, close - colon - 2);
    (*out)[key].push_back(values);
    pos = close + 1;
  }
}

}  // namespace

RawProfile parse_raw(const std::string& text) {
  RawProfile p;
  std::istringstream in(text);
  std::string line;
  enum { kHeader, kSampleTypes, kSamples, kLocations, kMappings } state = kHeader;
  static const std::regex sample_re(R"(^((?:\s+-?\d+)+):((?:\s*\d+)*)\s*$)");
  static const std::regex loc_re(R"(^\s*(\d+): (0x[0-9a-f]+|0) (?:M=(\d+) )?(?:\[F\] )?(.*)$)");
  static const std::regex line_re(R"(^(.*) (\S*):(-?\d+) s=(-?\d+)(?:\((.*)\))?$)");
  static const std::regex map_re(R"(^\s*(\d+): (0x[0-9a-f]+|0)/(0x[0-9a-f]+|0)/(0x[0-9a-f]+|0) ?(.*)$)");
  RawLocation* current_loc = nullptr;
  while (std::getline(in, line)) {
    std::smatch m;
    if (state == kHeader) {
      if (starts_with(line, "PeriodType: ")) p.period_type = line.substr(12);
      else if (starts_with(line, "Period: ")) p.period = std::stoll(line.substr(8));
      else if (starts_with(line, "Time: ")) {
        p.has_time = true;
        p.time_unix_nanos = parse_pprof_time(line.substr(6));
      }
      else if (starts_with(line, "Duration: ")) p.has_duration = true;
      else if (starts_with(line, "Comment: ")) p.comments.push_back(line.substr(9));
      else if (line == "Samples:") state = kSampleTypes;
      continue;
    }
    if (state == kSampleTypes) {
      std::istringstream types(line);
      std::string t;
      while (types >> t) p.sample_types.push_back(t);
      state = kSamples;
      continue;
    }
    if (line == "Locations") { state = kLocations; continue; }
    if (line == "Mappings") { state = kMappings; continue; }
    if (state == kSamples) {
      if (std::regex_match(line, m, sample_re)) {
        RawSample s;
        std::istringstream vs(m[1].str());
        int64_t v;
        while (vs >> v) s.values.push_back(v);
        std::istringstream ls(m[2].str());
        uint64_t id;
        while (ls >> id) s.location_ids.push_back(id);
        p.samples.push_back(std::move(s));
      } else if (!p.samples.empty() && !trim(line).empty()) {
        parse_labels(trim(line), &p.samples.back().labels);
      }
    } else if (state == kLocations) {
      if (starts_with(line, "             ") && current_loc != nullptr &&
          !std::regex_match(line, m, loc_re)) {
        std::smatch lm;
        std::string rest = trim(line);
        if (std::regex_match(rest, lm, line_re))
          current_loc->lines.push_back({lm[1], lm[5], lm[2], std::stoll(lm[3])});
        continue;
      }
      if (std::regex_match(line, m, loc_re)) {
        RawLocation loc;
        loc.id = std::stoull(m[1]);
        loc.address = std::stoull(m[2], nullptr, 16);
        loc.mapping_id = m[3].matched ? std::stoull(m[3]) : 0;
        std::string rest = trim(m[4]);
        std::smatch lm;
        if (!rest.empty() && std::regex_match(rest, lm, line_re))
          loc.lines.push_back({lm[1], lm[5], lm[2], std::stoll(lm[3])});
        current_loc = &(p.locations[loc.id] = loc);
      }
    } else if (state == kMappings) {
      if (std::regex_match(line, m, map_re)) {
        RawMapping mp;
        mp.id = std::stoull(m[1]);
        mp.start = std::stoull(m[2], nullptr, 16);
        mp.limit = std::stoull(m[3], nullptr, 16);
        mp.offset = std::stoull(m[4], nullptr, 16);
        std::istringstream rest(m[5].str());
        std::vector<std::string> words;
        std::string w;
        while (rest >> w) words.push_back(w);
        while (!words.empty() && words.back().front() == '[') {
          mp.flags = words.back() + mp.flags;
          words.pop_back();
        }
        if (!words.empty()) mp.file = words[0];
        if (words.size() > 1) mp.build_id = words[1];
        p.mappings.push_back(mp);
      }
    }
  }
  return p;
}

int RawProfile::sample_index(const std::string& type) const {
  for (size_t i = 0; i < sample_types.size(); ++i) {
    const std::string& t = sample_types[i];
    if (t.substr(0, t.find('/')) == type) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::string> RawProfile::stack_functions(const RawSample& sample) const {
  std::vector<std::string> names;
  for (uint64_t id : sample.location_ids) {
    auto it = locations.find(id);
    if (it == locations.end()) {
      names.push_back("<missing location>");
      continue;
    }
    if (it->second.lines.empty()) names.push_back("<unknown>");
    for (const RawLine& l : it->second.lines) names.push_back(l.function);
  }
  return names;
}

int64_t RawProfile::total(int value_index) const {
  int64_t sum = 0;
  for (const RawSample& s : samples) sum += s.values.at(value_index);
  return sum;
}

int64_t RawProfile::cum(int value_index,
                        const std::function<bool(const std::string&)>& pred) const {
  int64_t sum = 0;
  for (const RawSample& s : samples) {
    for (const std::string& name : stack_functions(s)) {
      if (pred(name)) {
        sum += s.values.at(value_index);
        break;
      }
    }
  }
  return sum;
}

int64_t RawProfile::flat(int value_index,
                         const std::function<bool(const std::string&)>& pred) const {
  int64_t sum = 0;
  for (const RawSample& s : samples) {
    std::vector<std::string> names = stack_functions(s);
    if (!names.empty() && pred(names.front())) sum += s.values.at(value_index);
  }
  return sum;
}

int64_t RawProfile::cum_containing(int value_index, const std::string& needle) const {
  return cum(value_index, [&](const std::string& n) { return n.find(needle) != std::string::npos; });
}

int64_t RawProfile::flat_containing(int value_index, const std::string& needle) const {
  return flat(value_index, [&](const std::string& n) { return n.find(needle) != std::string::npos; });
}

long RawProfile::walks_before_first_tables() const {
  for (const std::string& c : comments) {
    std::smatch m;
    if (std::regex_search(c, m, std::regex(R"(profagent unwinding: .*; (\d+) walks before)")))
      return std::stol(m[1]);
  }
  return -1;
}

bool has_function_starting(const std::vector<std::string>& stack, const std::string& prefix) {
  for (const std::string& name : stack)
    if (name.rfind(prefix, 0) == 0) return true;
  return false;
}

}  // namespace e2e
