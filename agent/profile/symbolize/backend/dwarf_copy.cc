// The decompressed DWARF copy (see dwarf_copy.h). File layout: an ELF64 image (header, the
// copied sections' data, .shstrtab, section headers), then a fixed trailer: magic, the ELF
// image's size, the build id, and a 64-bit checksum of image and build id. Part of
// libprofagent-symbolize.so. Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend/dwarf_copy.h"

#include "agent/core/write_all.h"
#include "agent/profile/symbolize/build_id.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

namespace profagent::symbolize {
namespace {

constexpr char kMagic[16] = {'p', 'r', 'o', 'f', 'a', 'g', 'e', 'n',
                             't', '-', 'd', 'w', 'a', 'r', 'f', '1'};
constexpr int64_t kTouchAfterSeconds = 3600;  // as the symbol cache's files

struct Trailer {
  char magic[16];
  uint64_t elf_size;
  uint64_t checksum;
  uint32_t build_id_size;
  uint32_t reserved;
  char build_id[kMaxBuildIdChars];
};
static_assert(sizeof(Trailer) == 168);

// The sections libdw reads for names, lines and inline chains. Location lists and call-frame
// information are never read by a lookup and stay out.
constexpr const char* kCopied[] = {
    ".debug_info",   ".debug_abbrev",      ".debug_aranges", ".debug_line",
    ".debug_line_str", ".debug_str",       ".debug_str_offsets", ".debug_addr",
    ".debug_ranges", ".debug_rnglists",    ".debug_types",
};

bool is_copied(const char* name) {
  for (const char* c : kCopied)
    if (std::strcmp(name, c) == 0) return true;
  return false;
}

uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// A 64-bit checksum of the image and the build id, four independent multiply-rotate lanes
// over 8-byte words (several GB/s: a copy is checked whole until it has a mark, below). Our
// own, not zlib's crc32: a host that defines a `crc32` of its own would take that call
// (global scope first).
uint64_t checksum(const char* image, size_t size, const char* build_id, size_t id_size) {
  constexpr uint64_t k1 = 0x9e3779b185ebca87ull, k2 = 0xc2b2ae3d27d4eb4full;
  uint64_t lane[4] = {k1 + k2, k2, 0, 0 - k1};
  size_t i = 0;
  for (; i + 32 <= size; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t word;
      std::memcpy(&word, image + i + 8 * j, 8);
      lane[j] = rotl(lane[j] + word * k2, 31) * k1;
    }
  }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18);
  auto mix_byte = [&h](unsigned char c) { h = rotl(h ^ (c * k1), 11) * k2; };
  for (; i < size; ++i) mix_byte(static_cast<unsigned char>(image[i]));
  for (size_t j = 0; j < id_size; ++j) mix_byte(static_cast<unsigned char>(build_id[j]));
  h ^= size;
  h ^= h >> 33;
  h *= k2;
  h ^= h >> 29;
  h *= k1;
  h ^= h >> 32;
  return h;
}

// The mark that a copy was checked whole (`<id>.dwarf.ok`): which file (device, inode, size,
// modification and status-change times) and which content (the trailer's checksum) were read
// and found right. (The status-change time cannot be set from user space: a copy rewritten in
// place with its old modification time put back still changes it.)
// Reading 8 MiB of libc's copy to check it cost each first symbolization of a process 2-6 ms;
// a copy the mark names is used without that pass. The copy is never written in place (a
// new copy is a new file, renamed over it), and any write to it changes its modification time,
// which the mark pins (the hourly touch below too: a copy in use is checked whole again at
// most about once an hour).
struct VerifiedMark {
  char magic[16];
  uint64_t dev, ino, size;
  int64_t mtime_sec, mtime_nsec;
  int64_t ctime_sec, ctime_nsec;
  uint64_t checksum;
};
constexpr char kMarkMagic[16] = {'p', 'r', 'o', 'f', 'a', 'g', 'e', 'n',
                                 't', '-', 'd', 'w', 'o', 'k', '0', '2'};

VerifiedMark mark_of(const struct stat& st, uint64_t checksum) {
  VerifiedMark m{};
  std::memcpy(m.magic, kMarkMagic, sizeof kMarkMagic);
  m.dev = st.st_dev;
  m.ino = st.st_ino;
  m.size = static_cast<uint64_t>(st.st_size);
  m.mtime_sec = st.st_mtim.tv_sec;
  m.mtime_nsec = st.st_mtim.tv_nsec;
  m.ctime_sec = st.st_ctim.tv_sec;
  m.ctime_nsec = st.st_ctim.tv_nsec;
  m.checksum = checksum;
  return m;
}

bool marked_verified(const std::string& copy_path, const struct stat& st, uint64_t checksum) {
  int fd = open((copy_path + ".ok").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  struct stat mst;
  VerifiedMark m;
  bool ok = fstat(fd, &mst) == 0 && S_ISREG(mst.st_mode) && mst.st_uid == geteuid() &&
            mst.st_size == sizeof m && read(fd, &m, sizeof m) == sizeof m;
  close(fd);
  VerifiedMark want = mark_of(st, checksum);
  return ok && std::memcmp(&m, &want, sizeof m) == 0;
}

const char* section_name(Elf* elf, const GElf_Shdr& shdr) {
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return nullptr;
  return elf_strptr(elf, shstrndx, shdr.sh_name);
}


// One writer per build id at a time: many processes starting together (a parallel build, a
// test suite) would each inflate the DWARF and write an ~8 MiB temporary file of their own,
// far over the cache's bound. The writer holds `<id>.dwarf.tmp.w` (O_EXCL); others skip. A
// writer that died leaves it behind: older than a minute, it is taken over (eviction also
// removes stale temporaries). Returns the descriptor, or -1 (another writer, or no room).
int claim_writer(const std::string& temp) {
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  constexpr time_t kStaleWriterSeconds = 60;
  int fd = open(temp.c_str(), kFlags, 0600);
  struct stat st;
  if (fd < 0 && errno == EEXIST && lstat(temp.c_str(), &st) == 0 &&
      time(nullptr) - st.st_mtime > kStaleWriterSeconds && unlink(temp.c_str()) == 0)
    fd = open(temp.c_str(), kFlags, 0600);
  return fd;
}

// False when RLIMIT_FSIZE would stop a file of `bytes` (SIGXFSZ is blocked in a dump, so the
// write would fail with EFBIG after all the work).
bool file_size_allowed(uint64_t bytes) {
  rlimit limit;
  return getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY ||
         bytes <= limit.rlim_cur;
}

// Written after a whole check, through a temporary name (`<id>.dwarf.tmp.ok.<pid>.<n>`, which
// eviction removes if a writer died); any failure is silent (the next process checks whole
// again).
void mark_verified(const std::string& copy_path, const struct stat& st, uint64_t checksum) {
  static std::atomic<unsigned> counter{0};
  VerifiedMark m = mark_of(st, checksum);
  if (!file_size_allowed(sizeof m)) return;
  std::string temp = copy_path + ".tmp.ok." + std::to_string(getpid()) + "." +
                     std::to_string(counter.fetch_add(1));
  write_file_by_rename(temp, copy_path + ".ok", &m, sizeof m);
}

// The copy's image (the copied sections, decompressed, as a small ELF) and its trailer,
// written to `fd`. False if the object has nothing to copy or the image would be too large.
bool build_and_write(int fd, const std::string& build_id, Elf* elf,
                     const GElf_Ehdr& source_ehdr) {
  struct Copied {
    GElf_Shdr shdr;
    std::string name;
    const char* data;
    size_t size;
    uint64_t align;
  };
  std::vector<Copied> sections;
  uint64_t total = sizeof(Elf64_Ehdr);
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type == SHT_NOBITS) continue;
    const char* name = section_name(elf, shdr);
    if (name == nullptr || !is_copied(name)) continue;
    if ((shdr.sh_flags & SHF_COMPRESSED) != 0) {
      if (elf_compress(scn, 0, 0) < 0 || gelf_getshdr(scn, &shdr) == nullptr) return false;
    }
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr || data->d_buf == nullptr || data->d_size == 0) continue;
    uint64_t align = std::max<uint64_t>(1, std::min<uint64_t>(8, data->d_align));
    sections.push_back({shdr, name, static_cast<const char*>(data->d_buf), data->d_size, align});
    total += data->d_size + align;
    if (total > kMaxCopyBytes) return false;
  }
  if (sections.empty()) return false;

  // Lay out: header, section data, .shstrtab, section headers (null, copied..., .shstrtab).
  std::string shstrtab(1, '\0');
  std::string image(sizeof(Elf64_Ehdr), '\0');
  // Its whole size at once: growing an 8 MiB string by doubling leaves the host's malloc
  // with several freed multi-MiB chunks (and raised mmap/trim thresholds).
  image.reserve(total + (sections.size() + 2) * sizeof(Elf64_Shdr) + 4096);
  std::vector<Elf64_Shdr> headers(1);
  auto pad_to = [&image](uint64_t align) {
    image.resize((image.size() + align - 1) / align * align, '\0');
  };
  for (const Copied& c : sections) {
    pad_to(c.align);
    Elf64_Shdr h{};
    h.sh_name = static_cast<Elf64_Word>(shstrtab.size());
    shstrtab += c.name;
    shstrtab += '\0';
    h.sh_type = c.shdr.sh_type;
    h.sh_flags = c.shdr.sh_flags & ~static_cast<uint64_t>(SHF_COMPRESSED | SHF_ALLOC);
    h.sh_offset = image.size();
    h.sh_size = c.size;
    h.sh_addralign = c.align;
    h.sh_entsize = c.shdr.sh_entsize;
    headers.push_back(h);
    image.append(c.data, c.size);
  }
  Elf64_Shdr strtab{};
  strtab.sh_name = static_cast<Elf64_Word>(shstrtab.size());
  shstrtab += ".shstrtab";
  shstrtab += '\0';
  strtab.sh_type = SHT_STRTAB;
  strtab.sh_offset = image.size();
  strtab.sh_size = shstrtab.size();
  strtab.sh_addralign = 1;
  image += shstrtab;
  headers.push_back(strtab);
  pad_to(8);

  Elf64_Ehdr ehdr{};
  std::memcpy(ehdr.e_ident, source_ehdr.e_ident, EI_NIDENT);
  ehdr.e_type = static_cast<Elf64_Half>(source_ehdr.e_type);
  ehdr.e_machine = static_cast<Elf64_Half>(source_ehdr.e_machine);
  ehdr.e_version = EV_CURRENT;
  ehdr.e_flags = static_cast<Elf64_Word>(source_ehdr.e_flags);
  ehdr.e_ehsize = sizeof(Elf64_Ehdr);
  ehdr.e_shoff = image.size();
  ehdr.e_shentsize = sizeof(Elf64_Shdr);
  ehdr.e_shnum = static_cast<Elf64_Half>(headers.size());
  ehdr.e_shstrndx = static_cast<Elf64_Half>(headers.size() - 1);
  // The image is written in the file's byte order, which must be ours to copy headers as is.
  if (ehdr.e_ident[EI_DATA] != (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB
                                                                         : ELFDATA2MSB))
    return false;
  std::memcpy(image.data(), &ehdr, sizeof ehdr);
  image.append(reinterpret_cast<const char*>(headers.data()), headers.size() * sizeof(Elf64_Shdr));
  if (image.size() > kMaxCopyBytes) return false;

  Trailer trailer{};
  std::memcpy(trailer.magic, kMagic, sizeof kMagic);
  trailer.elf_size = image.size();
  trailer.build_id_size = static_cast<uint32_t>(build_id.size());
  std::memcpy(trailer.build_id, build_id.data(), build_id.size());
  trailer.checksum = checksum(image.data(), image.size(), trailer.build_id, trailer.build_id_size);

  if (!file_size_allowed(image.size() + sizeof trailer)) return false;
  return write_all(fd, image.data(), image.size()) == 0 &&
         write_all(fd, &trailer, sizeof trailer) == 0;
}

}  // namespace

std::string dwarf_copy_path(const std::string& dir, const std::string& build_id) {
  return dir + "/" + build_id + ".dwarf";
}

bool dwarf_copy_worthwhile(const MappedElf& file) {
  Elf* elf = file.elf();
  if (elf == nullptr || gelf_getclass(elf) != ELFCLASS64) return false;
  bool compressed = false;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* name = section_name(elf, shdr);
    if (name == nullptr) continue;
    // A supplementary file's strings, or old GNU-style ".zdebug_*" sections: not copied.
    if (std::strcmp(name, ".gnu_debugaltlink") == 0 || std::strcmp(name, ".debug_sup") == 0 ||
        std::strncmp(name, ".zdebug_", 8) == 0)
      return false;
    // libdw decompresses a section in memory when it opens the file (its header loses
    // SHF_COMPRESSED then): ask before opening the DWARF.
    if (is_copied(name) && (shdr.sh_flags & SHF_COMPRESSED) != 0) compressed = true;
  }
  return compressed;
}

std::unique_ptr<MappedElf> load_dwarf_copy(const std::string& dir, const std::string& build_id,
                                           bool* checked_whole) {
  if (checked_whole != nullptr) *checked_whole = false;
  if (dir.empty() || !is_build_id_name(build_id)) return nullptr;
  const std::string path = dwarf_copy_path(dir, build_id);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return nullptr;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      static_cast<uint64_t>(st.st_size) < sizeof(Trailer) + sizeof(Elf64_Ehdr) ||
      static_cast<uint64_t>(st.st_size) > kMaxCopyBytes + sizeof(Trailer)) {
    close(fd);
    return nullptr;
  }
  size_t size = static_cast<size_t>(st.st_size);
  // Private and writable, as MappedElf maps any file: libelf may convert data in place.
  void* map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  // Keep a file in use young, so eviction takes the ones nobody reads (before the mark is
  // looked at: it pins the modification time).
  if (map != MAP_FAILED && time(nullptr) - st.st_mtime > kTouchAfterSeconds &&
      futimens(fd, nullptr) == 0)
    fstat(fd, &st);
  close(fd);
  if (map == MAP_FAILED) return nullptr;
  Trailer trailer;
  std::memcpy(&trailer, static_cast<const char*>(map) + size - sizeof trailer, sizeof trailer);
  bool ok = std::memcmp(trailer.magic, kMagic, sizeof kMagic) == 0 &&
            trailer.elf_size == size - sizeof trailer &&
            trailer.build_id_size == build_id.size() &&
            std::memcmp(trailer.build_id, build_id.data(), build_id.size()) == 0;
  if (ok && !marked_verified(path, st, trailer.checksum)) {
    if (checked_whole != nullptr) *checked_whole = true;
    ok = trailer.checksum == checksum(static_cast<const char*>(map), trailer.elf_size,
                                      trailer.build_id, trailer.build_id_size);
    if (ok) mark_verified(path, st, trailer.checksum);
    // The check read every page; libdw reads a few units' worth. Let the rest go from this
    // process (untouched private pages of a file: they stay in the page cache).
    if (ok) madvise(map, size, MADV_DONTNEED);
  }
  if (!ok) {
    munmap(map, size);
    return nullptr;
  }
  auto copy = std::make_unique<MappedElf>(map, size, static_cast<size_t>(trailer.elf_size));
  if (copy->elf() == nullptr || copy->section(".debug_info") == nullptr) return nullptr;
  return copy;
}

bool write_dwarf_copy(const std::string& dir, const std::string& build_id,
                      const MappedElf& source) {
  Elf* elf = source.elf();
  if (dir.empty() || !is_build_id_name(build_id) || elf == nullptr ||
      gelf_getclass(elf) != ELFCLASS64)
    return false;
  GElf_Ehdr source_ehdr;
  if (gelf_getehdr(elf, &source_ehdr) == nullptr) return false;
  std::string path = dwarf_copy_path(dir, build_id);
  std::string temp = path + ".tmp.w";
  int fd = claim_writer(temp);
  if (fd < 0) return false;
  bool ok = build_and_write(fd, build_id, elf, source_ehdr);
  ok = close(fd) == 0 && ok;
  if (ok) ok = rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) unlink(temp.c_str());
  return ok;
}

}  // namespace profagent::symbolize
