// The persistent symbol cache: what the symbolizer found for (GNU build id, file offset) —
// function names with the inline chain, file, line — kept on disk per user, so the next
// process using the same binaries (libc in every process of a shell script) reads no symbol
// table and no DWARF for those addresses. One file per build id, `<dir>/<build id>.sym`,
// 0600 in a 0700 directory owned by the user; written to a temporary name and renamed (a
// reader never sees a partial file; concurrent writers each leave a whole file, the last
// rename wins); checksummed (a corrupt or truncated file is ignored and rewritten); the
// directory is bounded in size (oldest files evicted). A directory that cannot be created or
// written, or that another user owns, disables the cache silently. Normal (dump-thread)
// context only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/profile/symbolize/symbolizer.h"

namespace profagent::symbolize {

struct CachedSymbol {
  std::vector<SourceFrame> frames;  // as the backend returned them (innermost first)
  bool symbolized = false;
  bool has_file_line = false;
  // > 0: the answer for every offset of [key, key + span), not only the key: a function known
  // by its symbol alone (no line table covers it), so any sample in it is answered here.
  uint32_t span = 0;
};

struct SymbolCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t files_read = 0;
  uint64_t files_written = 0;
};

class SymbolCache {
 public:
  static constexpr uint64_t kDefaultMaxBytes = 64ull << 20;   // whole directory
  static constexpr size_t kMaxEntriesPerFile = 50000;
  static constexpr uint64_t kEvictionStepBytes = 64 << 10;

  // `dir` "" = disabled (find() never hits, save() writes nothing).
  explicit SymbolCache(std::string dir, uint64_t max_bytes = kDefaultMaxBytes);

  bool enabled() const { return !dir_.empty(); }
  // Enabled, and the directory exists (created if needed), is ours, private and writable:
  // the only directory the backend may keep decompressed DWARF copies in.
  bool usable() { return enabled() && usable_directory(); }
  const std::string& dir() const { return dir_; }

  // The entry for `file_offset` in the object with `build_id` (its own, or a range entry
  // covering it), or nullptr. The build id's file is read on its first lookup.
  const CachedSymbol* find(const std::string& build_id, uint64_t file_offset);
  // Records a new result, written at the next save(); with entry.span > 0, for the range
  // [file_offset, file_offset + span).
  void add(const std::string& build_id, uint64_t file_offset, CachedSymbol entry);
  // Writes every build id that got new entries (merged with what is on disk now), then
  // evicts the oldest files while the directory is over its bound, when it may have crossed
  // it: a file was made, or one grew past a multiple of kEvictionStepBytes (each look at
  // the bound stats every file of the directory: ~1 ms for a few hundred, which a process
  // that only added a few addresses to libc's file paid at its every exit). Silent on any
  // failure.
  // No descriptor is kept between calls. `other_files_written`: another writer of the
  // directory (the backend's DWARF copies) added files since the last save: evict anyway.
  void save(bool other_files_written = false);

  const SymbolCacheStats& stats() const { return stats_; }

  // File format, exposed for tests: parse() checks and reads a whole file.
  static std::string serialize(const std::string& build_id,
                               const std::unordered_map<uint64_t, CachedSymbol>& entries);
  static bool parse(const std::string& bytes, const std::string& build_id,
                    std::unordered_map<uint64_t, CachedSymbol>* entries);
  static bool parse_record(const std::string& bytes, CachedSymbol* entry);

 private:
  struct IndexEntry {
    uint64_t offset;
    uint64_t position;  // of the record in the file
    uint32_t length;
    uint32_t span;      // CachedSymbol::span (0 in files written before ranges existed)
  };
  struct PerObject {
    bool loaded = false;
    std::vector<IndexEntry> index;  // of the file as read at the first lookup
    uint64_t inode = 0;             // that file's identity
    std::string bytes;              // the whole file when small (records read from memory)
    std::unordered_map<uint64_t, CachedSymbol> entries;  // read from disk, and new
    std::unordered_map<uint64_t, CachedSymbol> fresh;    // new since the last save
    std::map<uint64_t, uint32_t> spans;  // range entries (file and new): start -> span
  };
  const CachedSymbol* entry_at(const std::string& build_id, PerObject* object,
                               uint64_t offset);
  const CachedSymbol* find_range(const std::string& build_id, PerObject* object,
                                 uint64_t file_offset);

  bool usable_directory();
  std::string path_of(const std::string& build_id) const;
  int open_file(const std::string& build_id, uint64_t* inode, uint64_t* size) const;
  void load_index(const std::string& build_id, PerObject* object);
  bool read_record(const std::string& build_id, PerObject* object, const IndexEntry& at,
                   CachedSymbol* out);
  // `size_on_disk`: the file's size as opened, 0 when there is none.
  bool read_whole_file(const std::string& build_id,
                       std::unordered_map<uint64_t, CachedSymbol>* out, uint64_t* size_on_disk);
  // Writes the file; its size, or 0 if it could not be written.
  size_t write_file(const std::string& build_id,
                    const std::unordered_map<uint64_t, CachedSymbol>& entries);
  void evict();

  std::string dir_;
  uint64_t max_bytes_;
  int dir_state_ = 0;  // 0 unknown, 1 usable, -1 unusable
  std::unordered_map<std::string, PerObject> objects_;
  SymbolCacheStats stats_;
};

}  // namespace profagent::symbolize
