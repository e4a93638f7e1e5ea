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
  size_t size_ = 0;
  bool mmapped_ = false;
  Elf* elf_ = nullptr;
};

}  // namespace profagent::symbolize
