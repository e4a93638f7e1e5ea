// An ELF file mapped copy-on-write and read by libelf from memory (no descriptor kept; the
// one used to map it is O_CLOEXEC). Part of libprofagent-symbolize.so. Normal context only.
#include "agent/profile/symbolize/backend/mapped_elf.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "agent/profile/symbolize/build_id.h"

namespace profagent::symbolize {
namespace {

bool libelf_ready() {
  static const bool ready = elf_version(EV_CURRENT) != EV_NONE;
  return ready;
}

}  // namespace

MappedElf::MappedElf(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= static_cast<off_t>(EI_NIDENT)) {
    size_ = static_cast<size_t>(st.st_size);
    // Private and writable: libelf may convert data in place; nothing reaches the file.
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      map_ = p;
      elf_size_ = size_;
      mmapped_ = true;
    }
  }
  close(fd);
  open_memory();
}

MappedElf::MappedElf(const void* bytes, size_t size) {
  if (size < EI_NIDENT) return;
  map_ = std::malloc(size);
  if (map_ == nullptr) return;
  std::memcpy(map_, bytes, size);
  size_ = elf_size_ = size;
  open_memory();
}

MappedElf::MappedElf(void* map, size_t map_size, size_t elf_size)
    : map_(map), size_(map_size), elf_size_(elf_size), mmapped_(true) {
  if (elf_size_ >= EI_NIDENT && elf_size_ <= size_) open_memory();
}

void MappedElf::open_memory() {
  if (map_ == nullptr || !libelf_ready()) return;
  if (std::memcmp(map_, ELFMAG, SELFMAG) != 0) return;
  elf_ = elf_memory(static_cast<char*>(map_), elf_size_);
  if (elf_ != nullptr && elf_kind(elf_) != ELF_K_ELF) {
    elf_end(elf_);
    elf_ = nullptr;
  }
}

MappedElf::~MappedElf() {
  if (elf_ != nullptr) elf_end(elf_);
  if (map_ == nullptr) return;
  if (mmapped_) {
    munmap(map_, size_);
  } else {
    std::free(map_);
  }
}

Elf_Scn* MappedElf::section(const char* name) const {
  if (elf_ == nullptr) return nullptr;
  size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf_, &shstrndx) != 0) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr) continue;
    const char* n = elf_strptr(elf_, shstrndx, shdr.sh_name);
    if (n != nullptr && std::strcmp(n, name) == 0) return scn;
  }
  return nullptr;
}

std::string MappedElf::build_id() const {
  if (elf_ == nullptr) return {};
  for (Elf_Scn* scn = elf_nextscn(elf_, nullptr); scn != nullptr; scn = elf_nextscn(elf_, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_NOTE) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) continue;
    size_t offset = 0;
    GElf_Nhdr nhdr;
    size_t name_offset, desc_offset;
    while (offset < data->d_size &&
           (offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
      const char* base = static_cast<const char*>(data->d_buf);
      if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
          std::memcmp(base + name_offset, "GNU", 4) == 0 && nhdr.n_descsz > 0) {
        return to_hex(reinterpret_cast<const unsigned char*>(base + desc_offset), nhdr.n_descsz);
      }
    }
  }
  return {};
}

}  // namespace profagent::symbolize
