// GNU build ids (NT_GNU_BUILD_ID notes) of mapped ELF files, read from the file's program
// headers (no libelf: the agent maps libelf only once it symbolizes), or from the process's
// memory when the file is gone (deleted library, memfd). Normal (dump-thread) context only.
#include "agent/profile/symbolize/build_id.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "agent/profile/symbolize/maps.h"

namespace profagent::symbolize {
namespace {

constexpr size_t kMaxNotesSize = 1 << 16;

bool read_memory(int fd, uint64_t address, void* out, size_t len) {
  auto* p = static_cast<char*>(out);
  while (len > 0) {
    ssize_t n = pread(fd, p, len, static_cast<off_t>(address));
    if (n <= 0) return false;
    p += n;
    address += static_cast<uint64_t>(n);
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Walks raw note bytes (as laid out in memory) for the GNU build id.
std::string build_id_in_raw_notes(const std::vector<unsigned char>& notes, size_t align) {
  auto round = [align](size_t n) { return (n + align - 1) & ~(align - 1); };
  size_t pos = 0;
  while (pos + sizeof(ElfW(Nhdr)) <= notes.size()) {
    ElfW(Nhdr) nhdr;
    std::memcpy(&nhdr, notes.data() + pos, sizeof(nhdr));
    size_t name_pos = pos + sizeof(nhdr);
    size_t desc_pos = name_pos + round(nhdr.n_namesz);
    size_t next = desc_pos + round(nhdr.n_descsz);
    if (desc_pos + nhdr.n_descsz > notes.size()) {
      return {};
    }
    if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
        std::memcmp(notes.data() + name_pos, "GNU", 4) == 0 && nhdr.n_descsz > 0) {
      return to_hex(notes.data() + desc_pos, nhdr.n_descsz);
    }
    if (next <= pos) return {};
    pos = next;
  }
  return {};
}

}  // namespace

std::string to_hex(const unsigned char* bytes, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 0xf]);
  }
  return out;
}

bool is_build_id_name(const std::string& id) {
  if (id.empty() || id.size() > kMaxBuildIdChars) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string build_id_from_file(const std::string& path) {
  if (path.empty()) return {};
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string id;
  ElfW(Ehdr) ehdr;
  if (read_memory(fd, 0, &ehdr, sizeof(ehdr)) &&
      std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0 &&
      ehdr.e_ident[EI_CLASS] == (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32) &&
      ehdr.e_phentsize == sizeof(ElfW(Phdr)) && ehdr.e_phnum > 0 && ehdr.e_phnum < 512) {
    std::vector<ElfW(Phdr)> phdrs(ehdr.e_phnum);
    if (read_memory(fd, ehdr.e_phoff, phdrs.data(), phdrs.size() * sizeof(ElfW(Phdr)))) {
      for (const auto& ph : phdrs) {
        if (!id.empty()) break;
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > kMaxNotesSize) continue;
        std::vector<unsigned char> notes(ph.p_filesz);
        if (!read_memory(fd, ph.p_offset, notes.data(), notes.size())) continue;
        id = build_id_in_raw_notes(notes, ph.p_align == 8 ? 8 : 4);
      }
    }
  }
  close(fd);
  return id;
}

std::string build_id_from_memory(pid_t pid, uint64_t base) {
  int fd = open((proc_dir(pid) + "/mem").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string id;
  ElfW(Ehdr) ehdr;
  if (read_memory(fd, base, &ehdr, sizeof(ehdr)) &&
      std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0 &&
      ehdr.e_ident[EI_CLASS] == (sizeof(void*) == 8 ? ELFCLASS64 : ELFCLASS32) &&
      ehdr.e_phentsize == sizeof(ElfW(Phdr)) && ehdr.e_phnum > 0 && ehdr.e_phnum < 512) {
    std::vector<ElfW(Phdr)> phdrs(ehdr.e_phnum);
    if (read_memory(fd, base + ehdr.e_phoff, phdrs.data(), phdrs.size() * sizeof(ElfW(Phdr)))) {
      // The load bias: the PT_LOAD that covers file offset 0 is mapped at `base`.
      bool have_bias = false;
      uint64_t bias = 0;
      for (const auto& ph : phdrs) {
        if (ph.p_type == PT_LOAD && ph.p_offset == 0) {
          bias = base - ph.p_vaddr;
          have_bias = true;
          break;
        }
      }
      for (const auto& ph : phdrs) {
        if (!have_bias || !id.empty()) break;
        if (ph.p_type != PT_NOTE || ph.p_filesz == 0 || ph.p_filesz > kMaxNotesSize) continue;
        std::vector<unsigned char> notes(ph.p_filesz);
        if (!read_memory(fd, bias + ph.p_vaddr, notes.data(), notes.size())) continue;
        id = build_id_in_raw_notes(notes, ph.p_align == 8 ? 8 : 4);
      }
    }
  }
  close(fd);
  return id;
}

}  // namespace profagent::symbolize
