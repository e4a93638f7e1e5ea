// One ELF object (executable, library, vDSO) being symbolized: its PT_LOAD layout, its symbol
// table (.symtab of the file, of its debug file or of its MiniDebugInfo, else .dynsym), and its DWARF (of the file
// or of its separate debug file, or of its decompressed copy when those sections are
// compressed: dwarf_copy.h), each read only when first needed. DWARF is looked up per
// compile unit (.debug_aranges), never by scanning the module. Part of
// libprofagent-symbolize.so. Normal (dump-thread) context only.
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/profile/symbolize/backend/mapped_elf.h"
#include "agent/profile/symbolize/backend/symbol_table.h"
#include "agent/profile/symbolize/symbolizer.h"

namespace profagent::symbolize {

class ObjectFile {
 public:
  // Takes the mapped main file; `path` locates its debug file (may be "" for an image).
  // `dwarf_copy_dir` (may be ""): where the decompressed copy of compressed DWARF is kept.
  ObjectFile(std::unique_ptr<MappedElf> main, std::string path, std::string build_id,
             std::string dwarf_copy_dir);
  ~ObjectFile();
  ObjectFile(const ObjectFile&) = delete;
  ObjectFile& operator=(const ObjectFile&) = delete;

  bool file_offset_to_vaddr(uint64_t file_offset, uint64_t* vaddr) const;
  // *same_from/*same_to: the addresses [from, to) that give this same answer (the function
  // symbol's range when no compile unit covers `vaddr`, so no line or inline frame can
  // differ within it), or 0/0.
  bool lookup(uint64_t vaddr, std::vector<SourceFrame>* frames, bool* has_file_line,
              uint64_t* same_from, uint64_t* same_to);

 private:
  const MappedElf* debug_file();
  const SymbolTable& symbols();
  Dwarf* dwarf();
  void open_dwarf(const MappedElf& source);

  std::unique_ptr<MappedElf> main_;
  std::string path_;
  std::string build_id_;
  std::string dwarf_copy_dir_;
  bool debug_searched_ = false;
  std::unique_ptr<MappedElf> debug_;
  std::unique_ptr<MappedElf> mini_;  // MiniDebugInfo, when it names the functions
  std::unique_ptr<SymbolTable> symbols_;
  bool dwarf_tried_ = false;
  std::unique_ptr<MappedElf> dwarf_copy_;  // the decompressed copy libdw reads, when used
  Dwarf* dwarf_ = nullptr;
};

}  // namespace profagent::symbolize
