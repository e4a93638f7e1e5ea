// The persistent symbol cache (see symbol_cache.h). Normal (dump-thread) context only.
#include "agent/profile/symbolize/symbol_cache.h"

#include "agent/core/clock.h"
#include "agent/core/write_all.h"
#include "agent/profile/symbolize/build_id.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

namespace profagent::symbolize {
namespace {

constexpr char kMagic[] = "profagent-symbols-2\n";
constexpr size_t kIndexEntrySize = 24;
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr size_t kMaxFileBytes = 32u << 20;
constexpr size_t kMaxString = 1u << 16;
constexpr size_t kMaxFrames = 256;
constexpr const char* kSuffix = ".sym";
constexpr int64_t kStaleTempSeconds = 600;
constexpr int64_t kTouchAfterSeconds = 3600;
// A file up to this size is read at once (one read instead of an open, a read and a close
// per record): Debian's python3 has ~400 KiB of entries, and a python run that looked up
// ~80 of them one by one spent ~0.5 ms on it. Larger files are read record by record.
constexpr uint64_t kReadWholeBelow = 1u << 20;

uint64_t fnv1a(const char* data, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= 0x100000001b3ull;
  }
  return h;
}

template <typename T>
void put(std::string* out, T value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof value);
}

void put_string(std::string* out, const std::string& s) {
  size_t n = std::min(s.size(), kMaxString);
  put<uint32_t>(out, static_cast<uint32_t>(n));
  out->append(s.data(), n);
}

class Reader {
 public:
  Reader(const std::string& bytes, size_t end) : bytes_(bytes), end_(end) {}
  template <typename T>
  bool get(T* value) {
    if (end_ - pos_ < sizeof(T)) return false;
    std::memcpy(value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool get_string(std::string* s) {
    uint32_t n = 0;
    if (!get(&n) || n > kMaxString || end_ - pos_ < n) return false;
    s->assign(bytes_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool skip(size_t n) {
    if (end_ - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  bool at_end() const { return pos_ == end_; }

 private:
  const std::string& bytes_;
  size_t end_;
  size_t pos_ = 0;
};

// The directory is the user's own and not writable by others (nobody can plant names).
bool owned_private_directory(const std::string& dir) {
  struct stat st;
  return stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & 022) == 0;
}

// mkdir -p with new components 0700; false if the last one is not there afterwards.
bool make_private_directories(const std::string& dir) {
  for (size_t pos = dir.find('/', 1); ; pos = dir.find('/', pos + 1)) {
    std::string partial = dir.substr(0, pos);
    if (!partial.empty() && mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (pos == std::string::npos) break;
  }
  return true;
}

std::atomic<uint64_t> g_temp_counter{0};

}  // namespace

SymbolCache::SymbolCache(std::string dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
}

std::string SymbolCache::path_of(const std::string& build_id) const {
  return dir_ + "/" + build_id + kSuffix;
}

const CachedSymbol* SymbolCache::find(const std::string& build_id, uint64_t file_offset) {
  if (!enabled() || !is_build_id_name(build_id)) return nullptr;
  PerObject& object = objects_[build_id];
  if (!object.loaded) {
    object.loaded = true;
    load_index(build_id, &object);
  }
  const CachedSymbol* found = entry_at(build_id, &object, file_offset);
  if (found == nullptr) found = find_range(build_id, &object, file_offset);
  if (found == nullptr) {
    stats_.misses++;
    return nullptr;
  }
  stats_.hits++;
  return found;
}

// The entry keyed exactly `offset`: in memory, or read from the file through its index (and
// kept in memory from then on); nullptr if there is none.
const CachedSymbol* SymbolCache::entry_at(const std::string& build_id, PerObject* object,
                                          uint64_t offset) {
  auto it = object->entries.find(offset);
  if (it != object->entries.end()) return &it->second;
  auto at = std::lower_bound(
      object->index.begin(), object->index.end(), offset,
      [](const IndexEntry& e, uint64_t key) { return e.offset < key; });
  CachedSymbol entry;
  if (at == object->index.end() || at->offset != offset ||
      !read_record(build_id, object, *at, &entry))
    return nullptr;
  entry.span = at->span;
  return &object->entries.emplace(offset, std::move(entry)).first->second;
}

// The range entry (a function known by its symbol alone) that covers `file_offset`. Ranges
// are functions, so they do not overlap; a few entries back are looked at in case a nested
// symbol starts inside another.
const CachedSymbol* SymbolCache::find_range(const std::string& build_id, PerObject* object,
                                            uint64_t file_offset) {
  constexpr int kMaxLookBack = 4;
  auto s = object->spans.upper_bound(file_offset);
  for (int back = 0; s != object->spans.begin() && back < kMaxLookBack; ++back) {
    --s;
    if (file_offset - s->first < s->second) return entry_at(build_id, object, s->first);
  }
  return nullptr;
}

void SymbolCache::add(const std::string& build_id, uint64_t file_offset, CachedSymbol entry) {
  if (!enabled() || !is_build_id_name(build_id)) return;
  PerObject& object = objects_[build_id];
  if (entry.span > 0) object.spans[file_offset] = entry.span;
  object.fresh[file_offset] = entry;
  object.entries[file_offset] = std::move(entry);
}

int SymbolCache::open_file(const std::string& build_id, uint64_t* inode, uint64_t* size) const {
  int fd = open(path_of(build_id).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    close(fd);
    return -1;
  }
  *inode = st.st_ino;
  *size = static_cast<uint64_t>(st.st_size);
  // Keep a file in use young, so eviction takes the ones nobody reads.
  if (unix_seconds() - st.st_mtime > kTouchAfterSeconds) futimens(fd, nullptr);
  return fd;
}

static bool pread_all(int fd, void* out, size_t len, uint64_t position) {
  auto* p = static_cast<char*>(out);
  while (len > 0) {
    ssize_t n = pread(fd, p, len, static_cast<off_t>(position));
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
    position += static_cast<uint64_t>(n);
  }
  return true;
}

// Header and index of a file (bytes [0, end of index + checksum)), checked; false if
// anything is off.
static bool read_header(int fd, uint64_t file_size, const std::string& build_id, std::string* head,
                 uint32_t* count) {
  size_t fixed = kMagicSize + 4 + build_id.size() + 4;
  if (file_size < fixed + 8) return false;
  head->resize(fixed);
  if (!pread_all(fd, head->data(), fixed, 0)) return false;
  uint32_t id_len = 0;
  std::memcpy(&id_len, head->data() + kMagicSize, 4);
  if (head->compare(0, kMagicSize, kMagic) != 0 || id_len != build_id.size() ||
      head->compare(kMagicSize + 4, id_len, build_id) != 0)
    return false;
  std::memcpy(count, head->data() + fixed - 4, 4);
  uint64_t index_bytes = uint64_t{*count} * kIndexEntrySize;
  if (*count > SymbolCache::kMaxEntriesPerFile || fixed + index_bytes + 8 > file_size)
    return false;
  head->resize(fixed + index_bytes + 8);
  if (!pread_all(fd, head->data() + fixed, index_bytes + 8, fixed)) return false;
  uint64_t sum = 0;
  std::memcpy(&sum, head->data() + head->size() - 8, 8);
  return sum == fnv1a(head->data(), head->size() - 8);
}

void SymbolCache::load_index(const std::string& build_id, PerObject* object) {
  object->index.clear();
  object->bytes.clear();
  uint64_t size = 0;
  int fd = open_file(build_id, &object->inode, &size);
  if (fd < 0) return;
  if (size <= kReadWholeBelow) {
    object->bytes.resize(size);
    if (!pread_all(fd, object->bytes.data(), size, 0)) object->bytes.clear();
  }
  std::string head;
  uint32_t count = 0;
  if (read_header(fd, size, build_id, &head, &count)) {
    const char* p = head.data() + head.size() - 8 - uint64_t{count} * kIndexEntrySize;
    object->index.resize(count);
    std::memcpy(object->index.data(), p, uint64_t{count} * kIndexEntrySize);
    for (size_t i = 0; i < object->index.size(); ++i) {
      const IndexEntry& e = object->index[i];
      if ((i > 0 && object->index[i - 1].offset >= e.offset) || e.position > size ||
          e.length > size - e.position || e.length < 8) {
        object->index.clear();
        break;
      }
    }
    for (const IndexEntry& e : object->index)
      if (e.span > 0) object->spans.emplace(e.offset, e.span);
    stats_.files_read++;
  }
  close(fd);
}

bool SymbolCache::read_record(const std::string& build_id, PerObject* object,
                              const IndexEntry& at, CachedSymbol* out) {
  if (!object->bytes.empty()) {
    // Bounds were checked against the file's size when the index was read.
    return parse_record(object->bytes.substr(at.position, at.length), out);
  }
  // Opened for this read only: the agent keeps no descriptor the host could close or inherit.
  uint64_t inode = 0, size = 0;
  int fd = open_file(build_id, &inode, &size);
  if (fd < 0) return false;
  if (inode != object->inode) {  // replaced by another process: read its index anew
    close(fd);
    load_index(build_id, object);
    return false;
  }
  std::string bytes(at.length, '\0');
  bool ok = pread_all(fd, bytes.data(), bytes.size(), at.position);
  close(fd);
  return ok && parse_record(bytes, out);
}

bool SymbolCache::read_whole_file(const std::string& build_id,
                                  std::unordered_map<uint64_t, CachedSymbol>* out,
                                  uint64_t* size_on_disk) {
  uint64_t inode = 0, size = 0;
  int fd = open_file(build_id, &inode, &size);
  *size_on_disk = fd < 0 ? 0 : size;
  if (fd < 0) return false;
  std::string bytes(size, '\0');
  bool ok = pread_all(fd, bytes.data(), bytes.size(), 0);
  close(fd);
  return ok && parse(bytes, build_id, out);
}

std::string SymbolCache::serialize(const std::string& build_id,
                                   const std::unordered_map<uint64_t, CachedSymbol>& entries) {
  std::vector<uint64_t> offsets;
  offsets.reserve(entries.size());
  for (const auto& [offset, entry] : entries) offsets.push_back(offset);
  std::sort(offsets.begin(), offsets.end());
  std::string records;
  std::vector<IndexEntry> index;
  for (uint64_t offset : offsets) {
    const CachedSymbol& entry = entries.at(offset);
    std::string r;
    put<uint8_t>(&r, static_cast<uint8_t>((entry.symbolized ? 1 : 0) |
                                          (entry.has_file_line ? 2 : 0)));
    size_t n = std::min(entry.frames.size(), kMaxFrames);
    put<uint16_t>(&r, static_cast<uint16_t>(n));
    for (size_t i = 0; i < n; ++i) {
      const SourceFrame& f = entry.frames[i];
      put_string(&r, f.function);
      put_string(&r, f.system_name);
      put_string(&r, f.file);
      put<int64_t>(&r, f.line);
      put<int64_t>(&r, f.start_line);
    }
    put<uint64_t>(&r, fnv1a(r.data(), r.size()));
    index.push_back({offset, records.size(), static_cast<uint32_t>(r.size()), entry.span});
    records += r;
  }
  std::string out(kMagic, kMagicSize);
  put_string(&out, build_id);
  put<uint32_t>(&out, static_cast<uint32_t>(index.size()));
  uint64_t base = out.size() + index.size() * kIndexEntrySize + 8;
  for (IndexEntry& e : index) e.position += base;
  out.append(reinterpret_cast<const char*>(index.data()), index.size() * kIndexEntrySize);
  put<uint64_t>(&out, fnv1a(out.data(), out.size()));
  return out + records;
}

bool SymbolCache::parse_record(const std::string& bytes, CachedSymbol* entry) {
  if (bytes.size() < 8) return false;
  size_t body = bytes.size() - 8;
  uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + body, 8);
  if (sum != fnv1a(bytes.data(), body)) return false;
  Reader r(bytes, body);
  uint8_t flags = 0;
  uint16_t n = 0;
  if (!r.get(&flags) || !r.get(&n) || n > kMaxFrames) return false;
  entry->symbolized = (flags & 1) != 0;
  entry->has_file_line = (flags & 2) != 0;
  entry->frames.resize(n);
  for (SourceFrame& f : entry->frames) {
    if (!r.get_string(&f.function) || !r.get_string(&f.system_name) ||
        !r.get_string(&f.file) || !r.get(&f.line) || !r.get(&f.start_line)) {
      return false;
    }
  }
  return r.at_end();
}

bool SymbolCache::parse(const std::string& bytes, const std::string& build_id,
                        std::unordered_map<uint64_t, CachedSymbol>* entries) {
  size_t fixed = kMagicSize + 4 + build_id.size() + 4;
  if (bytes.size() < fixed + 8 || bytes.compare(0, kMagicSize, kMagic) != 0) return false;
  uint32_t id_len = 0, count = 0;
  std::memcpy(&id_len, bytes.data() + kMagicSize, 4);
  if (id_len != build_id.size() || bytes.compare(kMagicSize + 4, id_len, build_id) != 0)
    return false;
  std::memcpy(&count, bytes.data() + fixed - 4, 4);
  uint64_t head = fixed + uint64_t{count} * kIndexEntrySize;
  if (count > kMaxEntriesPerFile || head + 8 > bytes.size()) return false;
  uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + head, 8);
  if (sum != fnv1a(bytes.data(), head)) return false;
  std::vector<IndexEntry> index(count);
  std::memcpy(index.data(), bytes.data() + fixed, uint64_t{count} * kIndexEntrySize);
  std::unordered_map<uint64_t, CachedSymbol> parsed;
  for (const IndexEntry& e : index) {
    if (e.position > bytes.size() || e.length > bytes.size() - e.position) return false;
    CachedSymbol entry;
    if (!parse_record(bytes.substr(e.position, e.length), &entry)) return false;
    entry.span = e.span;
    parsed[e.offset] = std::move(entry);
  }
  for (auto& [offset, entry] : parsed) entries->try_emplace(offset, std::move(entry));
  return true;
}

bool SymbolCache::usable_directory() {
  if (dir_state_ == 0) {
    dir_state_ = make_private_directories(dir_) && owned_private_directory(dir_) &&
                         access(dir_.c_str(), W_OK | X_OK) == 0
                     ? 1
                     : -1;
  }
  return dir_state_ == 1;
}

size_t SymbolCache::write_file(const std::string& build_id,
                               const std::unordered_map<uint64_t, CachedSymbol>& entries) {
  std::string bytes = serialize(build_id, entries);
  std::string temp = path_of(build_id) + ".tmp." + std::to_string(getpid()) + "." +
                     std::to_string(g_temp_counter.fetch_add(1));
  return write_file_by_rename(temp, path_of(build_id), bytes.data(), bytes.size()) ? bytes.size()
                                                                                   : 0;
}

void SymbolCache::save(bool other_files_written) {
  if (!enabled()) return;
  bool may_be_over = other_files_written;
  for (auto& [build_id, object] : objects_) {
    if (object.fresh.empty()) continue;
    if (!usable_directory()) {
      object.fresh.clear();
      continue;
    }
    // Merge with what other processes wrote since we read the file; ours win.
    std::unordered_map<uint64_t, CachedSymbol> merged = object.fresh;
    std::unordered_map<uint64_t, CachedSymbol> on_disk;
    uint64_t old_size = 0;  // 0: no file yet
    read_whole_file(build_id, &on_disk, &old_size);
    for (auto& [offset, entry] : on_disk) {
      if (merged.size() >= kMaxEntriesPerFile) break;
      merged.try_emplace(offset, std::move(entry));
    }
    for (auto& [offset, entry] : object.entries) {
      if (merged.size() >= kMaxEntriesPerFile) break;
      merged.try_emplace(offset, entry);
    }
    if (size_t bytes = write_file(build_id, merged)) {
      stats_.files_written++;
      may_be_over |= old_size == 0 || bytes / kEvictionStepBytes != old_size / kEvictionStepBytes;
    }
    object.fresh.clear();
  }
  if (may_be_over) evict();
}

void SymbolCache::evict() {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) return;
  struct File {
    std::string name;
    int64_t mtime;
    uint64_t size;
  };
  // Two pools, each evicted oldest first within its own bound: the small .sym and .unwind
  // files (max_bytes_), and the backend's decompressed DWARF copies (8-16 MiB each, half of
  // it), so that one copy read less than hourly never pushes out dozens of small files, nor
  // the small files a copy (which the next process would inflate and write again).
  std::vector<File> files, copies;
  uint64_t total = 0, copies_total = 0;
  int64_t now = unix_seconds();
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    // The unwind-table cache (agent/runtime/unwind/unwind_cache.h) and the backend's
    // decompressed DWARF copies (backend/dwarf_copy.h) share the directory and the bound.
    bool temp = name.find(".sym.tmp.") != std::string::npos ||
                name.find(".unwind.tmp.") != std::string::npos ||
                name.find(".dwarf.tmp.") != std::string::npos;
    // A DWARF copy's "checked whole" mark (backend/dwarf_copy.h) goes with its copy.
    if (name.ends_with(".dwarf.ok")) {
      struct stat copy_st;
      std::string copy = name.substr(0, name.size() - 3);
      if (fstatat(dirfd(d), copy.c_str(), &copy_st, AT_SYMLINK_NOFOLLOW) != 0)
        unlinkat(dirfd(d), e->d_name, 0);
      continue;
    }
    if (!temp && !name.ends_with(kSuffix) && !name.ends_with(".unwind") &&
        !name.ends_with(".dwarf"))
      continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    if (temp) {
      // A writer that died between create and rename.
      if (now - st.st_mtime > kStaleTempSeconds) unlinkat(dirfd(d), e->d_name, 0);
      continue;
    }
    bool copy = name.ends_with(".dwarf");
    (copy ? copies : files).push_back({name, st.st_mtime, static_cast<uint64_t>(st.st_size)});
    (copy ? copies_total : total) += static_cast<uint64_t>(st.st_size);
  }
  auto trim = [&](std::vector<File>& pool, uint64_t pool_total, uint64_t bound) {
    if (pool_total <= bound) return;
    std::sort(pool.begin(), pool.end(),
              [](const File& a, const File& b) { return a.mtime < b.mtime; });
    for (const File& f : pool) {
      if (pool_total <= bound) break;
      if (unlinkat(dirfd(d), f.name.c_str(), 0) != 0) continue;
      pool_total -= f.size;
      if (f.name.ends_with(".dwarf")) unlinkat(dirfd(d), (f.name + ".ok").c_str(), 0);
    }
  };
  trim(files, total, max_bytes_);
  trim(copies, copies_total, max_bytes_ / 2);
  closedir(d);
}

}  // namespace profagent::symbolize
