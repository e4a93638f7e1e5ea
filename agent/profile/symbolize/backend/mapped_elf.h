// An ELF file mapped copy-on-write into memory and opened with libelf from that memory: the
// file's descriptor is opened O_CLOEXEC and closed before the constructor returns, so the
// symbolizer never holds a descriptor the host could close, reuse or pass to a child.
// Part of libprofagent-symbolize.so. Normal (dump-thread) context only.
#pragma once

#include <gelf.h>
#include <libelf.h>

#include <cstddef>
#include <string>

namespace profagent::symbolize {

class MappedElf {
 public:
  // Maps `path`; elf() is nullptr if it cannot be opened or is not ELF.
  explicit MappedElf(const std::string& path);
  // Copies an in-memory image (the vDSO).
  MappedElf(const void* bytes, size_t size);
  // Takes over a private mapping `map` of `map_size` bytes (munmap'ed by the destructor) whose
  // first `elf_size` bytes are the ELF image (a checked cache file with a trailer).
  MappedElf(void* map, size_t map_size, size_t elf_size);
  ~MappedElf();
  MappedElf(const MappedElf&) = delete;
  MappedElf& operator=(const MappedElf&) = delete;

  Elf* elf() const { return elf_; }
  // The section named `name`, or nullptr.
  Elf_Scn* section(const char* name) const;
  // Lowercase hex of the NT_GNU_BUILD_ID note, "" if none.
  std::string build_id() const;

 private:
  void open_memory();

  void* map_ = nullptr;
  size_t size_ = 0;      // of the mapping
  size_t elf_size_ = 0;  // of the ELF image at its start
  bool mmapped_ = false;
  Elf* elf_ = nullptr;
};

}  // namespace profagent::symbolize
