// The persistent unwind-table cache (see unwind_cache.h). NORMAL CONTEXT: file I/O and
// allocation, called by the table refresh under its mutex (and, for the lookups, by the start
// and by a short process's exit, agent.cc), except load_unwind_table_at: SIGNAL/HOOK-SAFE
// (system calls only), for the deferred mapping (deferred_tables.h). Descriptors are
// O_CLOEXEC and closed before returning; loaded tables stay mapped for the life of the process.
#include "agent/runtime/unwind/unwind_cache.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <cstring>

#include "agent/core/clock.h"
#include "agent/core/write_all.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

// The format, including what a FrameDesc row means (its flags: kFlagFdeStart marks a
// function's first row since '03'). Bump it with any change to the rows: a file of another
// format is rebuilt, never read.
constexpr char kMagic[8] = {'P', 'A', 'U', 'N', 'W', 'D', '0', '3'};

struct Header {
  char magic[8];
  uint32_t frame_desc_size;
  uint32_t row_count;
  uint64_t span;
  uint64_t pages;
  uint64_t checksum;  // of everything after the header
};
static_assert(sizeof(Header) == 40);

std::string* g_dir = nullptr;  // set once at start, before any refresh
std::atomic<bool> g_dir_checked{false};  // the directory was found ours and private
std::atomic<uint64_t> g_tables_stored{0};  // files this process wrote (unwind_tables_stored)

// Like the symbol cache: a directory owned by another user, or writable by group or others,
// is not used (nobody can plant tables). Made (0700) when `create` and missing.
PROFAGENT_START_PATH
bool dir_usable(bool create) {
  if (g_dir_checked) return true;
  struct stat st;
  if (lstat(g_dir->c_str(), &st) != 0) {
    if (!create || errno != ENOENT || mkdir(g_dir->c_str(), 0700) != 0 ||
        lstat(g_dir->c_str(), &st) != 0)
      return false;
  }
  const bool ours = S_ISDIR(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 022) == 0;
  g_dir_checked.store(ours);
  return ours;
}

PROFAGENT_START_PATH
size_t payload_bytes(uint32_t rows, size_t pages) {
  size_t rows_bytes = (static_cast<size_t>(rows) * sizeof(FrameDesc) + 7) & ~size_t{7};
  return rows_bytes + pages * sizeof(uint32_t);
}


// No RLIMIT_FSIZE applies. Under `ulimit -f` a write past the limit raises SIGXFSZ in the
// host: no table is stored then (not worth the risk).
PROFAGENT_START_PATH
bool file_size_unlimited() {
  struct rlimit fsize;
  return getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur == RLIM_INFINITY;
}

}  // namespace

PROFAGENT_START_PATH
void set_unwind_cache_dir(const std::string& dir) {
  AgentScope scope;
  if (g_dir == nullptr) g_dir = new std::string;
  *g_dir = dir;
  g_dir_checked = false;
}

PROFAGENT_START_PATH
std::string unwind_cache_path(const std::string& build_id) {
  if (g_dir == nullptr || g_dir->empty() || build_id.empty()) return "";
  // (One allocation, freed first by the caller: the start's arena takes it back.)
  constexpr std::string_view kSuffix = ".unwind";
  std::string path;
  path.reserve(g_dir->size() + 1 + build_id.size() + kSuffix.size());
  path += *g_dir;
  path += '/';
  path += build_id;
  path += kSuffix;
  return path;
}

PROFAGENT_START_PATH
bool unwind_cache_writable() {
  if (!file_size_unlimited()) return false;  // store_unwind_table would write nothing
  return g_dir != nullptr && !g_dir->empty() && dir_usable(/*create=*/false) &&
         faccessat(AT_FDCWD, g_dir->c_str(), W_OK, AT_EACCESS) == 0;
}

PROFAGENT_START_PATH
bool unwind_table_cached(const std::string& build_id) {
  std::string path = unwind_cache_path(build_id);
  return !path.empty() && dir_usable(/*create=*/false) && access(path.c_str(), R_OK) == 0;
}

PROFAGENT_START_PATH
std::string loaded_build_id(uintptr_t load_bias, const void* phdrs, int phnum) {
  const auto* ph = static_cast<const ElfW(Phdr)*>(phdrs);
  static const char hex[] = "0123456789abcdef";
  for (int i = 0; i < phnum; ++i) {
    if (ph[i].p_type != PT_NOTE) continue;
    const auto* p = reinterpret_cast<const unsigned char*>(load_bias + ph[i].p_vaddr);
    size_t left = ph[i].p_memsz;
    while (left >= sizeof(ElfW(Nhdr))) {
      ElfW(Nhdr) n;
      memcpy(&n, p, sizeof n);
      size_t name_sz = (n.n_namesz + 3) & ~size_t{3};
      size_t desc_sz = (n.n_descsz + 3) & ~size_t{3};
      size_t total = sizeof n + name_sz + desc_sz;
      if (total > left) break;
      if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 &&
          memcmp(p + sizeof n, "GNU", 4) == 0 && n.n_descsz > 0 && n.n_descsz <= 64) {
        std::string id;
        id.reserve(2 * n.n_descsz);  // (one allocation, not one per growth)
        const unsigned char* d = p + sizeof n + name_sz;
        for (uint32_t k = 0; k < n.n_descsz; ++k) {
          id += hex[d[k] >> 4];
          id += hex[d[k] & 15];
        }
        return id;
      }
      p += total;
      left -= total;
    }
  }
  return "";
}

PROFAGENT_START_PATH
CachedTable load_unwind_table(const std::string& build_id, uint64_t span, size_t pages) {
  std::string path = unwind_cache_path(build_id);
  if (path.empty() || !dir_usable(/*create=*/false)) return CachedTable{};
  return load_unwind_table_at(path.c_str(), span, pages);
}

PROFAGENT_START_PATH
CachedTable load_unwind_table_at(const char* path, uint64_t span, size_t pages) noexcept {
  CachedTable none;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return none;
  struct stat st;
  Header h;
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            static_cast<size_t>(st.st_size) > sizeof h &&
            pread(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h) &&
            memcmp(h.magic, kMagic, sizeof kMagic) == 0 &&
            h.frame_desc_size == sizeof(FrameDesc) && h.span == span && h.pages == pages &&
            h.row_count > 0 &&
            static_cast<size_t>(st.st_size) == sizeof h + payload_bytes(h.row_count, pages);
  // Mapped, not copied: page-cache pages shared by every process, nothing zeroed or copied.
  // Our writers only ever rename a complete file over the name, so a mapped file never
  // shrinks under us (the cache is private to its user, files 0600 in a 0700 directory).
  size_t file_bytes = ok ? static_cast<size_t>(st.st_size) : 0;
  void* map = ok ? mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
  close(fd);
  if (map == MAP_FAILED) return none;
  const char* payload = static_cast<const char*>(map) + sizeof h;
  size_t bytes = payload_bytes(h.row_count, pages);
  const auto* rows = reinterpret_cast<const FrameDesc*>(payload);
  const auto* index = reinterpret_cast<const uint32_t*>(payload + bytes - pages * sizeof(uint32_t));
  // Nothing of the mapping is read here: a process that maps its tables and ends without a
  // walk faults in none of its pages. The lookup never follows a page index entry past the
  // rows (find_frame_desc); the rows' checksum waits for the table's first use (most
  // processes never walk), and with no check slot left it is computed now.
  TableCheck* check = new_table_check(payload, bytes, h.checksum);
  bool valid = check != nullptr || unwind_cache_checksum(payload, bytes) == h.checksum;
  if (!valid) {
    munmap(map, file_bytes);
    return none;
  }
  // Keep a file in use young: the symbol cache's eviction (oldest first) counts these too.
  if (unix_seconds() - st.st_mtime > 24 * 3600) utimensat(AT_FDCWD, path, nullptr, 0);
  return CachedTable{rows, h.row_count, index, check};
}

void store_unwind_table(const std::string& build_id, uint64_t span, const FrameDesc* rows,
                        uint32_t row_count, const uint32_t* page_first_row, size_t pages) {
  std::string path = unwind_cache_path(build_id);
  if (path.empty() || row_count == 0) return;
  if (!file_size_unlimited()) return;
  AgentScope scope;
  if (!dir_usable(/*create=*/true)) return;  // usually there already (the symbol cache's)
  // The file: the header, then the payload (rows, page index) it checksums.
  const size_t payload_size = payload_bytes(row_count, pages);
  std::string file(sizeof(Header) + payload_size, '\0');
  char* payload = file.data() + sizeof(Header);
  memcpy(payload, rows, static_cast<size_t>(row_count) * sizeof(FrameDesc));
  memcpy(payload + payload_size - pages * sizeof(uint32_t), page_first_row,
         pages * sizeof(uint32_t));
  Header h{};
  memcpy(h.magic, kMagic, sizeof kMagic);
  h.frame_desc_size = sizeof(FrameDesc);
  h.row_count = row_count;
  h.span = span;
  h.pages = pages;
  h.checksum = unwind_cache_checksum(payload, payload_size);
  memcpy(file.data(), &h, sizeof h);
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(getpid()) + "." +
                    std::to_string(counter.fetch_add(1));
  // (No cache directory to write, or a full disk: skipped without a word.)
  if (!write_file_by_rename(tmp, path, file.data(), file.size())) return;
  g_tables_stored.fetch_add(1, std::memory_order_relaxed);
}

uint64_t unwind_tables_stored() noexcept { return g_tables_stored.load(std::memory_order_relaxed); }

}  // namespace profagent
