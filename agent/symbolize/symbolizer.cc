// The Symbolizer facade: owns the parsed maps, mapping build ids, the libdwfl session and the
// per-address cache, and names what libdw cannot ("module+0xoffset", "0xaddr"). Normal
// (dump-thread) context only.
#include "agent/symbolize/symbolizer.h"

#include <sys/stat.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "agent/symbolize/build_id.h"
#include "agent/symbolize/dwfl_session.h"
#include "agent/symbolize/maps.h"

namespace profagent {

using symbolize::DwflSession;
using symbolize::MapsEntry;

struct Symbolizer::Impl {
  explicit Impl(pid_t p) : pid(p) {}

  bool same_executable_mappings(const std::string& text) const;
  void rebuild(std::string text);
  std::string mapping_build_id(const MapsEntry& entry);
  int find_mapping(uint64_t address) const;
  ResolvedAddress compute(uint64_t address);

  pid_t pid;
  std::string maps_text;
  bool have_maps = false;
  std::vector<MapsEntry> entries;
  std::vector<MappingInfo> mappings;
  std::vector<size_t> by_start;  // mapping indices sorted by start address
  std::unique_ptr<DwflSession> session;
  std::unordered_map<uint64_t, ResolvedAddress> cache;
};

namespace {

std::string hex_address(uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%" PRIx64, value);
  return buf;
}

bool is_regular_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

// Only executable mappings matter: heap growth or a new thread stack must not throw away
// the libdwfl session and the cache.
bool Symbolizer::Impl::same_executable_mappings(const std::string& text) const {
  if (!have_maps) return false;
  if (text == maps_text) return true;
  std::vector<MapsEntry> fresh = symbolize::parse_maps(text);
  std::vector<size_t> fresh_source, old_source;
  std::vector<MappingInfo> a = symbolize::executable_mappings(fresh, "", &fresh_source);
  std::vector<MappingInfo> b = symbolize::executable_mappings(entries, "", &old_source);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const MapsEntry& x = fresh[fresh_source[i]];
    const MapsEntry& y = entries[old_source[i]];
    if (x.start != y.start || x.limit != y.limit || x.offset != y.offset || x.inode != y.inode ||
        x.name != y.name || x.deleted != y.deleted) {
      return false;
    }
  }
  return true;
}

void Symbolizer::Impl::rebuild(std::string text) {
  maps_text = std::move(text);
  have_maps = true;
  cache.clear();
  session.reset();
  entries = symbolize::parse_maps(maps_text);
  std::vector<size_t> source;
  mappings = symbolize::executable_mappings(entries, symbolize::main_executable_path(pid), &source);
  std::map<std::string, std::string> ids;  // one read per file
  for (size_t i = 0; i < mappings.size(); ++i) {
    const MapsEntry& entry = entries[source[i]];
    std::string key = entry.name + (entry.deleted ? " (deleted)" : "");
    auto it = ids.find(key);
    if (it == ids.end()) it = ids.emplace(key, mapping_build_id(entry)).first;
    mappings[i].build_id = it->second;
  }
  by_start.resize(mappings.size());
  for (size_t i = 0; i < by_start.size(); ++i) by_start[i] = i;
  std::sort(by_start.begin(), by_start.end(),
            [this](size_t a, size_t b) { return mappings[a].start < mappings[b].start; });
  session = std::make_unique<DwflSession>(pid);
}

std::string Symbolizer::Impl::mapping_build_id(const MapsEntry& entry) {
  if (entry.name.empty() || entry.name.starts_with('[')) return {};
  if (!entry.deleted && is_regular_file(entry.name)) {
    std::string id = symbolize::build_id_from_file(entry.name);
    if (!id.empty()) return id;
  }
  // The file is gone, replaced or unreadable: read the note from the mapped ELF header,
  // i.e. the same object's mapping of file offset 0.
  for (const MapsEntry& e : entries) {
    if (e.offset == 0 && e.inode == entry.inode && e.name == entry.name &&
        e.perms.starts_with('r') && e.start <= entry.start) {
      std::string id = symbolize::build_id_from_memory(pid, e.start);
      if (!id.empty()) return id;
    }
  }
  return {};
}

int Symbolizer::Impl::find_mapping(uint64_t address) const {
  auto it = std::upper_bound(by_start.begin(), by_start.end(), address,
                             [this](uint64_t a, size_t i) { return a < mappings[i].start; });
  if (it == by_start.begin()) return -1;
  size_t index = *(it - 1);
  return address < mappings[index].limit ? static_cast<int>(index) : -1;
}

ResolvedAddress Symbolizer::Impl::compute(uint64_t address) {
  ResolvedAddress out;
  out.mapping_index = find_mapping(address);
  if (session != nullptr) {
    out.symbolized = session->lookup(address, &out.frames, &out.has_file_line);
  }
  if (out.frames.empty()) out.frames.emplace_back();
  SourceFrame& physical = out.frames.back();
  if (physical.function.empty()) {
    if (out.mapping_index >= 0) {
      const MappingInfo& m = mappings[static_cast<size_t>(out.mapping_index)];
      physical.function =
          symbolize::mapping_basename(m.filename) + "+" + hex_address(address - m.start + m.offset);
    } else {
      physical.function = hex_address(address);
    }
    physical.system_name.clear();
  }
  return out;
}

Symbolizer::Symbolizer(pid_t pid) : impl_(std::make_unique<Impl>(pid)) { refresh(); }

Symbolizer::~Symbolizer() = default;

void Symbolizer::refresh() {
  std::string text;
  if (!symbolize::read_text_file(symbolize::proc_dir(impl_->pid) + "/maps", &text)) {
    text.clear();  // no maps data: no mappings, every address falls back to "0x..."
  }
  if (impl_->same_executable_mappings(text)) return;
  impl_->rebuild(std::move(text));
}

const std::vector<MappingInfo>& Symbolizer::mappings() const { return impl_->mappings; }

const ResolvedAddress& Symbolizer::resolve(uint64_t address) {
  auto it = impl_->cache.find(address);
  if (it == impl_->cache.end()) it = impl_->cache.emplace(address, impl_->compute(address)).first;
  return it->second;
}

}  // namespace profagent
