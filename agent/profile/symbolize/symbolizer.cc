// The Symbolizer facade: owns the parsed maps, mapping build ids, the persistent symbol cache,
// the backend objects (opened on first need through libprofagent-symbolize.so) and the
// per-address cache, and names what nothing else can ("module+0xoffset", "0xaddr"). Normal
// (dump-thread) context only.
#include "agent/profile/symbolize/symbolizer.h"

#include <fcntl.h>
#include <link.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <unordered_map>

#include "agent/core/contained.h"
#include "agent/core/fork_gate.h"
#include "agent/core/log.h"
#include "agent/core/proc_status.h"
#include "agent/profile/symbolize/backend_loader.h"
#include "agent/profile/symbolize/build_id.h"
#include "agent/profile/symbolize/maps.h"
#include "agent/profile/symbolize/symbol_cache.h"
#include "agent/runtime/unwind/unwind_cache.h"

namespace profagent {

using symbolize::BackendApi;
using symbolize::CachedSymbol;
using symbolize::MapsEntry;
using symbolize::SymbolCache;

struct Symbolizer::Impl {
  Impl(pid_t p, const std::string& cache_dir) : pid(p), cache(cache_dir) {}
  ~Impl() { close_objects(); }

  bool held = false;  // hold_mappings(): refresh() keeps the current mappings
  bool same_executable_mappings(const std::string& text) const;
  void rebuild(std::string text);
  void keep_resolved_of_unchanged(const std::vector<MappingInfo>& old_mappings,
                                  const std::vector<uint64_t>& old_inodes);
  std::string mapping_build_id(const MapsEntry& entry);
  std::string loaded_build_id_at(uint64_t address) const;
  int find_mapping(uint64_t address) const;
  std::string object_key(size_t mapping_index) const;
  void* object_for(size_t mapping_index);
  void* open_object(size_t mapping_index);
  void close_objects();
  CachedSymbol lookup(size_t mapping_index, uint64_t file_offset);
  bool room_for_backend();
  ResolvedAddress compute(uint64_t address);

  pid_t pid;
  std::string maps_text;
  bool have_maps = false;
  std::vector<MapsEntry> entries;
  std::vector<MappingInfo> mappings;
  std::vector<size_t> sources;   // for each mapping, its entry in `entries`
  std::vector<size_t> by_start;  // mapping indices sorted by start address
  SymbolCache cache;
  // Backend objects by file (name + build id), shared by the mappings of one file; nullptr
  // once opening failed.
  std::map<std::string, void*> objects;
  int lookups_since_probe = 0;  // room_for_backend()
  bool room_at_probe = true;
  bool last_lookup_without_room = false;
  // Addresses answered without room for the backend: dropped at the next refresh, so a
  // later dump asks again.
  std::vector<uint64_t> answered_without_room;
  std::unordered_map<uint64_t, ResolvedAddress> resolved;
  uint64_t copies_seen_at_save = 0;  // DWARF copies and unwind tables written, at the last save
  // This process's loaded objects' segments with their build ids (from the loaded notes, as
  // the dynamic loader mapped them), during a rebuild of our own maps.
  struct LoadedSegment {
    uint64_t lo, hi;
    std::string build_id;
  };
  std::vector<LoadedSegment> loaded;
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

// Bytes [start, limit) of process `pid`'s memory (the vDSO image).
std::string read_process_memory(pid_t pid, uint64_t start, uint64_t limit) {
  std::string bytes;
  if (limit <= start || limit - start > (1u << 20)) return bytes;
  int fd = open((symbolize::proc_dir(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return bytes;
  bytes.resize(limit - start);
  ssize_t n = pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(start));
  close(fd);
  bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return bytes;
}

}  // namespace

// Only executable mappings matter: heap growth or a new thread stack must not throw away
// the backend objects and the cache.
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
  // The mappings as they were (with their files' inodes), for keep_resolved_of_unchanged().
  std::vector<MappingInfo> old_mappings = mappings;
  std::vector<uint64_t> old_inodes;
  for (size_t i = 0; i < mappings.size(); ++i) old_inodes.push_back(entries[sources[i]].inode);
  // Build ids by (file, inode) of the previous maps: a dlopen (ours of the symbolizer backend
  // included) re-reads only the new files.
  std::map<std::string, std::string> ids;
  auto id_key = [](const MapsEntry& e) {
    return e.name + (e.deleted ? " (deleted)" : "") + "\n" + std::to_string(e.inode);
  };
  for (size_t i = 0; i < mappings.size(); ++i) ids[id_key(entries[sources[i]])] = mappings[i].build_id;
  entries = symbolize::parse_maps(maps_text);
  mappings =
      symbolize::executable_mappings(entries, symbolize::main_executable_path(pid), &sources);
  loaded.clear();
  if (pid == 0) {
    ForkGateSection gate;  // the loader's lock is held meanwhile (fork_gate.h)
    for_each_loaded_object(
        [segments = &loaded](dl_phdr_info* info, size_t) {
          std::string id = loaded_build_id(info->dlpi_addr, info->dlpi_phdr, info->dlpi_phnum);
          if (id.empty()) return 0;
          for (int i = 0; i < info->dlpi_phnum; ++i) {
            const ElfW(Phdr)& ph = info->dlpi_phdr[i];
            if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
            uint64_t lo = info->dlpi_addr + ph.p_vaddr;
            segments->push_back({lo & ~uint64_t{4095}, lo + ph.p_memsz, id});  // page-mapped
          }
          return 0;
        });
  }
  for (size_t i = 0; i < mappings.size(); ++i) {
    const MapsEntry& entry = entries[sources[i]];
    // This process's loaded objects: the note as loaded now. A file rewritten in place, or a
    // new file that got a freed inode number, can reappear under the same path and inode,
    // so the previous maps' id of that (path, inode) would name the old build.
    if (std::string id = loaded_build_id_at(entry.start); !id.empty()) {
      mappings[i].build_id = std::move(id);
      continue;
    }
    std::string key = id_key(entry);
    auto it = ids.find(key);
    if (it == ids.end()) it = ids.emplace(key, mapping_build_id(entry)).first;
    mappings[i].build_id = it->second;
  }
  by_start.resize(mappings.size());
  for (size_t i = 0; i < by_start.size(); ++i) by_start[i] = i;
  std::sort(by_start.begin(), by_start.end(),
            [this](size_t a, size_t b) { return mappings[a].start < mappings[b].start; });
  keep_resolved_of_unchanged(old_mappings, old_inodes);
  // Backend objects of files still mapped stay open (their DWARF is not read again); those of
  // unloaded files are closed.
  std::map<std::string, void*> kept;
  for (size_t i = 0; i < mappings.size(); ++i) {
    auto it = objects.find(object_key(i));
    if (it != objects.end()) {
      kept.insert(*it);
      objects.erase(it);
    }
  }
  close_objects();
  objects = std::move(kept);
}

// A dlopen or dlclose (ours of the symbolizer backend included) changes a few mappings: an
// address of a mapping that is still there, unchanged (same range, file offset, file, inode
// and build id), resolves as before and keeps its entry; those of mappings that changed or
// went away are dropped, and so are those that were outside every mapping and may now be
// inside one. Needs the new mappings and by_start.
void Symbolizer::Impl::keep_resolved_of_unchanged(const std::vector<MappingInfo>& old_mappings,
                                                  const std::vector<uint64_t>& old_inodes) {
  for (auto it = resolved.begin(); it != resolved.end();) {
    int was = it->second.mapping_index;
    int now = find_mapping(it->first);
    bool same = false;
    if (was >= 0 && now >= 0 && static_cast<size_t>(was) < old_mappings.size()) {
      const auto old_index = static_cast<size_t>(was), new_index = static_cast<size_t>(now);
      const MappingInfo& a = old_mappings[old_index];
      const MappingInfo& b = mappings[new_index];
      same = a.start == b.start && a.limit == b.limit && a.offset == b.offset &&
             a.filename == b.filename && a.build_id == b.build_id &&
             old_inodes[old_index] == entries[sources[new_index]].inode;
    }
    if (same) {
      it->second.mapping_index = now;
      ++it;
    } else {
      it = resolved.erase(it);
    }
  }
}

// An object the dynamic loader mapped in this process: its note as loaded, without opening
// the file (which may even have been replaced since); "" for any other address.
std::string Symbolizer::Impl::loaded_build_id_at(uint64_t address) const {
  for (const LoadedSegment& seg : loaded)
    if (address >= seg.lo && address < seg.hi) return seg.build_id;
  return {};
}

// A mapping that is not an object the dynamic loader mapped here (rebuild() asked
// loaded_build_id_at() first): the note from the file, or from its mapped header.
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

namespace {

// libdw does not survive running out of memory: it ends the process (libdw_oom.h turns that
// into a failed call) or, where it does not check an allocation, crashes (SIGSEGV in
// dwarf_getsrclines, seen under a tight RLIMIT_AS). So under a finite RLIMIT_AS the backend
// is asked only while this much of it is left (the limit against VmSize, /proc/self/statm:
// nothing mapped to find out, so the program's own allocations never fail for it), looked
// at every kLookupsPerProbe backend lookups while there is room, at each one while not.
constexpr size_t kBackendHeadroom = size_t{64} << 20;
constexpr int kLookupsPerProbe = 64;

bool headroom_left() {
  rlimit limit;
  if (getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return true;
  const uint64_t mapped = process_mapped_bytes();
  if (mapped == 0) return true;
  return mapped < limit.rlim_cur && limit.rlim_cur - mapped >= kBackendHeadroom;
}

// libdw ran out of memory in this process: the backend answers nothing from then on.
bool backend_gave_up() {
  if (!symbolize::symbolize_backend_loaded()) return false;
  symbolize::BackendStats b;
  symbolize::symbolize_backend()->stats(&b);
  return b.libdw_out_of_memory;
}

}  // namespace

// Probed every kLookupsPerProbe lookups while there is room, at each one while there is not.
bool Symbolizer::Impl::room_for_backend() {
  if (room_at_probe && lookups_since_probe++ % kLookupsPerProbe != 0) return true;
  room_at_probe = headroom_left();
  last_lookup_without_room = !room_at_probe;
  static std::atomic<bool> warned{false};
  if (!room_at_probe && !warned.exchange(true))  // (allocation-free: memory is short)
    log_warning_direct("less than 64 MiB of address space left: frames not in the symbol "
                       "cache are named module+offset while that lasts (the program runs on)");
  return room_at_probe;
}

int Symbolizer::Impl::find_mapping(uint64_t address) const {
  auto it = std::upper_bound(by_start.begin(), by_start.end(), address,
                             [this](uint64_t a, size_t i) { return a < mappings[i].start; });
  if (it == by_start.begin()) return -1;
  size_t index = *(it - 1);
  return address < mappings[index].limit ? static_cast<int>(index) : -1;
}

void* Symbolizer::Impl::open_object(size_t mapping_index) {
  const BackendApi* api = symbolize::symbolize_backend();
  if (api == nullptr) return nullptr;
  const MappingInfo& m = mappings[mapping_index];
  const MapsEntry& entry = entries[sources[mapping_index]];
  if (entry.name == "[vdso]") {
    std::string image = read_process_memory(pid, m.start, m.limit);
    return image.empty() ? nullptr : api->open_image(image.data(), image.size());
  }
  if (entry.name.empty() || entry.name.starts_with('[')) return nullptr;
  // Decompressed DWARF copies live in the symbol cache's directory, under its rules.
  std::string copies = cache.usable() ? cache.dir() : std::string();
  if (!entry.deleted && is_regular_file(entry.name)) {
    if (void* object = api->open_object(entry.name.c_str(), m.build_id.c_str(), copies.c_str()))
      return object;
  }
  // A deleted file or a memfd: the kernel still has the file behind the mapping.
  char range[64];
  std::snprintf(range, sizeof range, "/map_files/%" PRIx64 "-%" PRIx64, m.start, m.limit);
  // map_files exists only at the process level (/proc/<pid>), not under thread-self.
  std::string path = (pid == 0 ? std::string("/proc/self") : symbolize::proc_dir(pid)) + range;
  return api->open_object(path.c_str(), m.build_id.c_str(), copies.c_str());
}

// One object per file: name, build id and inode (a file without build id rebuilt in place
// is another object).
std::string Symbolizer::Impl::object_key(size_t mapping_index) const {
  const MappingInfo& m = mappings[mapping_index];
  return m.filename + "\n" + m.build_id + "\n" + std::to_string(entries[sources[mapping_index]].inode);
}

void* Symbolizer::Impl::object_for(size_t mapping_index) {
  std::string key = object_key(mapping_index);
  auto it = objects.find(key);
  if (it == objects.end()) it = objects.emplace(key, open_object(mapping_index)).first;
  return it->second;
}

void Symbolizer::Impl::close_objects() {
  if (!objects.empty()) {
    const BackendApi* api = symbolize::symbolize_backend();
    for (auto& [key, object] : objects) {
      if (object != nullptr && api != nullptr) api->close_object(object);
    }
  }
  objects.clear();
}

CachedSymbol Symbolizer::Impl::lookup(size_t mapping_index, uint64_t file_offset) {
  const MappingInfo& m = mappings[mapping_index];
  if (const CachedSymbol* hit = cache.find(m.build_id, file_offset)) return *hit;
  CachedSymbol result;
  if (!room_for_backend()) return result;  // (not kept: a later lookup may have room)
  void* object = object_for(mapping_index);
  uint64_t vaddr = 0, same_from = 0, same_to = 0;
  if (object != nullptr) {
    const BackendApi* api = symbolize::symbolize_backend();
    if (api->file_offset_to_vaddr(object, file_offset, &vaddr))
      result.symbolized = api->lookup(object, vaddr, &result.frames, &result.has_file_line,
                                      &same_from, &same_to);
  }
  // Only what the file itself answered is worth keeping for the next process (not what a
  // backend that gave up, out of memory, failed to answer). A function known by its symbol
  // alone is kept for its whole range (a later process's samples land on other addresses of
  // it, and need no DWARF reader then); anything else for this address.
  if (object == nullptr || backend_gave_up()) return result;
  // The range in file offsets, kept inside this mapping's part of the file (a gap between
  // symbols may run past the end of this executable segment).
  uint64_t map_from = m.offset, map_to = m.offset + (m.limit - m.start);
  if (same_from <= vaddr && vaddr < same_to && vaddr - same_from <= file_offset) {
    uint64_t from = std::max(file_offset - (vaddr - same_from), map_from);
    uint64_t to = std::min(file_offset + (same_to - vaddr), map_to);
    if (from <= file_offset && file_offset < to && to - from <= UINT32_MAX) {
      result.span = static_cast<uint32_t>(to - from);
      cache.add(m.build_id, from, result);
      return result;
    }
  }
  cache.add(m.build_id, file_offset, result);
  return result;
}

ResolvedAddress Symbolizer::Impl::compute(uint64_t address) {
  ResolvedAddress out;
  out.mapping_index = find_mapping(address);
  if (out.mapping_index >= 0) {
    const MappingInfo& m = mappings[static_cast<size_t>(out.mapping_index)];
    CachedSymbol found = lookup(static_cast<size_t>(out.mapping_index),
                                address - m.start + m.offset);
    out.frames = std::move(found.frames);
    out.symbolized = found.symbolized;
    out.has_file_line = found.has_file_line;
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

Symbolizer::Symbolizer(pid_t pid, const std::string& symbol_cache_dir)
    : impl_(std::make_unique<Impl>(pid, symbol_cache_dir)) {
  refresh();
}

Symbolizer::~Symbolizer() = default;

void Symbolizer::hold_mappings(bool refresh_first) {
  impl_->held = false;
  if (refresh_first) refresh();
  impl_->held = true;
}

void Symbolizer::release_mappings() { impl_->held = false; }

void Symbolizer::refresh() {
  // The per-address answers are kept across dumps and module changes; a process whose code
  // keeps moving (JIT, plugin churn) would grow them without end. Dropped here, between
  // profiles (no answer is referenced across a refresh), once there are more than this.
  if (impl_->resolved.size() > kMaxResolved) impl_->resolved.clear();
  for (uint64_t address : impl_->answered_without_room) impl_->resolved.erase(address);
  impl_->answered_without_room.clear();
  if (impl_->held) return;
  std::string text;
  if (!symbolize::read_text_file(symbolize::proc_dir(impl_->pid) + "/maps", &text)) {
    text.clear();  // no maps data: no mappings, every address falls back to "0x..."
  }
  if (impl_->same_executable_mappings(text)) return;
  impl_->rebuild(std::move(text));
}

const std::vector<MappingInfo>& Symbolizer::mappings() const { return impl_->mappings; }

const ResolvedAddress& Symbolizer::resolve(uint64_t address) {
  auto it = impl_->resolved.find(address);
  if (it == impl_->resolved.end()) {
    impl_->last_lookup_without_room = false;
    it = impl_->resolved.emplace(address, impl_->compute(address)).first;
    if (impl_->last_lookup_without_room) impl_->answered_without_room.push_back(address);
  }
  return it->second;
}

size_t Symbolizer::resolved_count() const { return impl_->resolved.size(); }

void Symbolizer::save_cache() {
  // The backend writes its DWARF copies, and the unwinder its tables, into the same
  // directory: they are evicted with it.
  uint64_t copies = unwind_tables_stored();
  if (symbolize::symbolize_backend_loaded()) {
    symbolize::BackendStats b;
    symbolize::symbolize_backend()->stats(&b);
    copies += b.dwarf_copies_written;
    static std::atomic<bool> warned{false};
    if (b.libdw_out_of_memory && !warned.exchange(true))
      log().warn("out of memory inside libdw: frames not already in the symbol cache are "
                 "named module+offset from now on in this process (the program runs on)");
  }
  impl_->cache.save(/*other_files_written=*/copies != impl_->copies_seen_at_save);
  impl_->copies_seen_at_save = copies;
}

std::string Symbolizer::stats_line() const {
  const symbolize::SymbolCacheStats& c = impl_->cache.stats();
  symbolize::BackendStats b;
  bool loaded = symbolize::symbolize_backend_loaded();
  if (loaded) symbolize::symbolize_backend()->stats(&b);
  std::string cache = impl_->cache.enabled() ? impl_->cache.dir() : "off";
  return "profagent symbolizer: cache_hits=" + std::to_string(c.hits) +
         " cache_misses=" + std::to_string(c.misses) +
         " cache_files_read=" + std::to_string(c.files_read) +
         " cache_files_written=" + std::to_string(c.files_written) +
         " backend=" +
         (!loaded ? "not_loaded" : b.libdw_out_of_memory ? "out_of_memory" : "loaded") +
         " objects_mapped=" + std::to_string(b.objects_opened) +
         " debug_files=" + std::to_string(b.debug_files_opened) +
         " dwarf_read=" + std::to_string(b.dwarf_loaded) +
         " dwarf_decompressed=" + std::to_string(b.dwarf_decompressed) +
         " dwarf_copies_read=" + std::to_string(b.dwarf_copies_read) +
         " dwarf_copies_checked=" + std::to_string(b.dwarf_copies_checked) +
         " dwarf_copies_written=" + std::to_string(b.dwarf_copies_written) +
         " lookups=" + std::to_string(b.lookups) + " cache=" + cache;
}

}  // namespace profagent
