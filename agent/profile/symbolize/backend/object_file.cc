// One ELF object being symbolized: layout, symbols, DWARF lines and inline chains, each read
// on first need. Part of libprofagent-symbolize.so. Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend/object_file.h"

#include <dwarf.h>
#include <gelf.h>

#include <cstdlib>

#include "agent/profile/symbolize/backend/backend_stats.h"
#include "agent/profile/symbolize/backend/debug_file_finder.h"
#include "agent/profile/symbolize/backend/dwarf_copy.h"
#include "agent/profile/symbolize/backend/mini_debuginfo.h"
#include "agent/profile/symbolize/demangle.h"

namespace profagent::symbolize {
namespace {

bool has_section_data(const MappedElf& file, const char* name) {
  Elf_Scn* scn = file.section(name);
  GElf_Shdr shdr;
  return scn != nullptr && gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type != SHT_NOBITS &&
         shdr.sh_size > 0;
}

Elf_Scn* section_of_type(const MappedElf& file, uint32_t type) {
  Elf* elf = file.elf();
  if (elf == nullptr) return nullptr;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) != nullptr && shdr.sh_type == type && shdr.sh_size > 0)
      return scn;
  }
  return nullptr;
}

bool is_function_scope(Dwarf_Die* die) {
  int tag = dwarf_tag(die);
  return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine || tag == DW_TAG_entry_point;
}

// Linkage (mangled) name of a function DIE, following abstract_origin and specification;
// the plain DW_AT_name when there is none (C, extern "C").
const char* die_system_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
  if (name == nullptr) {
    name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
  }
  if (name == nullptr) name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
  return name;
}

void set_names(const char* system_name, SourceFrame* frame) {
  frame->system_name = system_name;
  frame->function = demangle(system_name);
}

SourceFrame frame_for_die(Dwarf_Die* die) {
  SourceFrame frame;
  if (const char* name = die_system_name(die)) set_names(name, &frame);
  int decl_line = 0;
  if (dwarf_decl_line(die, &decl_line) == 0 && decl_line > 0) frame.start_line = decl_line;
  return frame;
}

// Call site (file, line) of an inlined_subroutine DIE, from DW_AT_call_file/DW_AT_call_line.
void call_site(Dwarf_Die* inlined, std::string* file, int64_t* line) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0) {
    *line = static_cast<int64_t>(value);
  }
  Dwarf_Die cu;
  Dwarf_Files* files = nullptr;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) == 0 &&
      dwarf_diecu(inlined, &cu, nullptr, nullptr) != nullptr &&
      dwarf_getsrcfiles(&cu, &files, nullptr) == 0) {
    if (const char* name = dwarf_filesrc(files, value, nullptr, nullptr)) *file = name;
  }
}

// The function DIEs (inlined instances, then the physical subprogram) whose code contains
// `vaddr` in compile unit `cudie`, innermost first, as eu-addr2line -i finds them.
std::vector<SourceFrame> dwarf_frames(Dwarf* dwarf, Dwarf_Die* cudie, uint64_t vaddr) {
  std::vector<SourceFrame> frames;
  Dwarf_Die* scopes = nullptr;
  int nscopes = dwarf_getscopes(cudie, vaddr, &scopes);
  if (nscopes <= 0) {
    std::free(scopes);
    return frames;
  }
  // Without an inlined instance at this address the chain is the first subprogram: no
  // further walk. With one, dwarf_getscopes may descend into abstract inline definitions;
  // re-walk the concrete tree from the innermost scope's own DIE (that walk visits the
  // compile unit from its start, so it is kept to the addresses that need it).
  bool inlined = false;
  int subprogram = -1;
  for (int i = 0; i < nscopes && subprogram < 0; ++i) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag == DW_TAG_inlined_subroutine) inlined = true;
    if (tag == DW_TAG_subprogram || tag == DW_TAG_entry_point) subprogram = i;
  }
  if (!inlined) {
    if (subprogram >= 0) frames.push_back(frame_for_die(&scopes[subprogram]));
    std::free(scopes);
    return frames;
  }
  Dwarf_Die innermost;
  bool found = dwarf_offdie(dwarf, dwarf_dieoffset(&scopes[0]), &innermost) != nullptr;
  std::free(scopes);
  if (!found) return frames;
  Dwarf_Die* chain = nullptr;
  int nchain = dwarf_getscopes_die(&innermost, &chain);
  std::vector<Dwarf_Die*> functions;
  for (int i = 0; i < nchain; ++i) {
    if (!is_function_scope(&chain[i])) continue;
    functions.push_back(&chain[i]);
    if (dwarf_tag(&chain[i]) == DW_TAG_subprogram) break;
  }
  for (size_t i = 0; i < functions.size(); ++i) {
    SourceFrame frame = frame_for_die(functions[i]);
    // An outer frame's line is the call site of the inlined frame inside it.
    if (i > 0) call_site(functions[i - 1], &frame.file, &frame.line);
    frames.push_back(std::move(frame));
  }
  std::free(chain);
  return frames;
}

}  // namespace

ObjectFile::ObjectFile(std::unique_ptr<MappedElf> main, std::string path, std::string build_id,
                       std::string dwarf_copy_dir)
    : main_(std::move(main)),
      path_(std::move(path)),
      build_id_(std::move(build_id)),
      dwarf_copy_dir_(std::move(dwarf_copy_dir)) {}

ObjectFile::~ObjectFile() {
  if (dwarf_ != nullptr) dwarf_end(dwarf_);
}

bool ObjectFile::file_offset_to_vaddr(uint64_t file_offset, uint64_t* vaddr) const {
  Elf* elf = main_->elf();
  size_t phnum = 0;
  if (elf == nullptr || elf_getphdrnum(elf, &phnum) != 0) return false;
  // The segment holding the offset; else the one whose page range holds it (the tail page
  // of a segment is mapped beyond p_filesz).
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_LOAD) continue;
      uint64_t begin = ph.p_offset;
      uint64_t end = ph.p_offset + ph.p_filesz;
      if (pass == 1) {
        begin &= ~uint64_t{0xfff};
        end = (end + 0xfff) & ~uint64_t{0xfff};
      }
      if (file_offset >= begin && file_offset < end) {
        *vaddr = file_offset - ph.p_offset + ph.p_vaddr;
        return true;
      }
    }
  }
  return false;
}

const MappedElf* ObjectFile::debug_file() {
  if (!debug_searched_) {
    debug_searched_ = true;
    if (!path_.empty()) debug_ = find_debug_file(*main_, path_, build_id_);
    if (debug_ != nullptr) backend_counters().debug_files_opened++;
  }
  return debug_.get();
}

const SymbolTable& ObjectFile::symbols() {
  if (symbols_ == nullptr) {
    // .symtab (the file's, else its debug file's, else MiniDebugInfo's), then .dynsym.
    if (Elf_Scn* s = section_of_type(*main_, SHT_SYMTAB)) {
      symbols_ = std::make_unique<SymbolTable>(main_->elf(), s);
    } else if (const MappedElf* debug = debug_file();
               debug != nullptr && section_of_type(*debug, SHT_SYMTAB) != nullptr) {
      symbols_ = std::make_unique<SymbolTable>(debug->elf(), section_of_type(*debug, SHT_SYMTAB));
    } else if ((mini_ = mini_debuginfo(*main_)) != nullptr &&
               section_of_type(*mini_, SHT_SYMTAB) != nullptr) {
      symbols_ = std::make_unique<SymbolTable>(mini_->elf(), section_of_type(*mini_, SHT_SYMTAB));
    } else {
      symbols_ =
          std::make_unique<SymbolTable>(main_->elf(), section_of_type(*main_, SHT_DYNSYM));
    }
  }
  return *symbols_;
}

Dwarf* ObjectFile::dwarf() {
  if (!dwarf_tried_) {
    dwarf_tried_ = true;
    const MappedElf* source = nullptr;
    if (has_section_data(*main_, ".debug_info")) {
      source = main_.get();
    } else if (const MappedElf* debug = debug_file();
               debug != nullptr && has_section_data(*debug, ".debug_info")) {
      source = debug;
    }
    if (source != nullptr) open_dwarf(*source);
  }
  return dwarf_;
}

// Compressed sections are inflated whole when libdw opens them, whatever address is wanted:
// read the decompressed copy a previous process wrote instead, or write it after paying.
void ObjectFile::open_dwarf(const MappedElf& source) {
  bool compressed = dwarf_copy_worthwhile(source);
  bool copyable = compressed && !dwarf_copy_dir_.empty() && !build_id_.empty();
  if (copyable) {
    bool checked_whole = false;
    dwarf_copy_ = load_dwarf_copy(dwarf_copy_dir_, build_id_, &checked_whole);
    if (checked_whole) backend_counters().dwarf_copies_checked++;
    if (dwarf_copy_ != nullptr) {
      dwarf_ = dwarf_begin_elf(dwarf_copy_->elf(), DWARF_C_READ, nullptr);
      if (dwarf_ != nullptr) {
        backend_counters().dwarf_loaded++;
        backend_counters().dwarf_copies_read++;
        return;
      }
      dwarf_copy_.reset();
    }
  }
  dwarf_ = dwarf_begin_elf(source.elf(), DWARF_C_READ, nullptr);
  if (dwarf_ == nullptr) return;
  backend_counters().dwarf_loaded++;
  if (compressed) backend_counters().dwarf_decompressed++;
  if (copyable && write_dwarf_copy(dwarf_copy_dir_, build_id_, source))
    backend_counters().dwarf_copies_written++;
}

bool ObjectFile::lookup(uint64_t vaddr, std::vector<SourceFrame>* frames, bool* has_file_line,
                        uint64_t* same_from, uint64_t* same_to) {
  frames->clear();
  *has_file_line = false;
  *same_from = *same_to = 0;
  backend_counters().lookups++;
  uint64_t sym_from = 0, sym_to = 0;
  const char* sym_name = symbols().lookup(vaddr, &sym_from, &sym_to);

  Dwarf_Die cudie;
  Dwarf* dw = dwarf();
  bool have_cu = dw != nullptr && dwarf_addrdie(dw, vaddr, &cudie) != nullptr;
  if (have_cu) *frames = dwarf_frames(dw, &cudie, vaddr);
  if (frames->empty()) frames->emplace_back();
  // The physical function is named from the ELF symbol table when it has the address.
  SourceFrame& physical = frames->back();
  if (sym_name != nullptr) set_names(sym_name, &physical);

  // The innermost frame's position comes from the line table of that compile unit.
  if (have_cu) {
    if (Dwarf_Line* line = dwarf_getsrc_die(&cudie, vaddr)) {
      int lineno = 0;
      const char* file = dwarf_linesrc(line, nullptr, nullptr);
      if (file != nullptr && dwarf_lineno(line, &lineno) == 0 && lineno > 0) {
        frames->front().file = file;
        frames->front().line = lineno;
      }
    }
  }
  // An inlined frame without a name says nothing; drop it (never the physical frame).
  for (size_t i = frames->size() - 1; i-- > 0;) {
    if ((*frames)[i].function.empty()) frames->erase(frames->begin() + static_cast<long>(i));
  }
  *has_file_line = !frames->front().file.empty() && frames->front().line > 0;
  // An object without any DWARF: every address of the function (less any symbol nested in
  // it), or of the gap between two symbols where no name is found, gets this same answer.
  // (With DWARF, even an address no compile unit covers may have neighbours that one does.)
  if (dw == nullptr && frames->size() == 1) {
    if (sym_name != nullptr) {
      *same_from = sym_from;
      *same_to = sym_to;
    } else if (!symbols().gap_around(vaddr, same_from, same_to)) {
      *same_from = *same_to = 0;
    }
  }
  for (const SourceFrame& f : *frames) {
    if (!f.function.empty()) return true;
  }
  return false;
}

}  // namespace profagent::symbolize
