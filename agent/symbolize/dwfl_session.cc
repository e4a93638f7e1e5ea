// One elfutils libdwfl session over a live process: module list from /proc/<pid>/maps, ELF
// symbols (.symtab, else .dynsym), and DWARF file:line and inline chains. Normal
// (dump-thread) context only; libdw caches every opened ELF/DWARF file for the session.
#include "agent/symbolize/dwfl_session.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "agent/symbolize/demangle.h"

namespace profagent::symbolize {
namespace {

char* g_debuginfo_path = nullptr;  // libdwfl's default search path

// The standard search, except that it must never reach the network from inside the
// profiled program: when DEBUGINFOD_URLS is set, libdwfl's standard search would ask a
// debuginfod server at dump time, so only the local build-id tree is searched then.
int find_debuginfo_locally(Dwfl_Module* mod, void** userdata, const char* modname,
                           Dwarf_Addr base, const char* file_name, const char* debuglink_file,
                           GElf_Word debuglink_crc, char** debuginfo_file_name) {
  const char* urls = getenv("DEBUGINFOD_URLS");
  if (urls == nullptr || urls[0] == '\0')
    return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
                                        debuglink_file, debuglink_crc, debuginfo_file_name);
  return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
                                      debuglink_crc, debuginfo_file_name);
}

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = find_debuginfo_locally,
    .section_address = nullptr,
    .debuginfo_path = &g_debuginfo_path,
};

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
// `address`, innermost first, as eu-addr2line -i finds them. Empty without DWARF.
std::vector<SourceFrame> dwarf_frames(Dwfl_Module* mod, uint64_t address) {
  std::vector<SourceFrame> frames;
  Dwarf_Addr bias = 0;
  Dwarf_Die* cudie = dwfl_module_addrdie(mod, address, &bias);
  if (cudie == nullptr) return frames;
  Dwarf_Die* scopes = nullptr;
  int nscopes = dwarf_getscopes(cudie, address - bias, &scopes);
  if (nscopes <= 0) {
    std::free(scopes);
    return frames;
  }
  // dwarf_getscopes may descend into abstract inline definitions; re-walk the concrete
  // tree from the innermost scope's own DIE.
  Dwarf_Die innermost;
  Dwarf_Addr dwarf_bias = 0;
  Dwarf* dwarf = dwfl_module_getdwarf(mod, &dwarf_bias);
  bool found =
      dwarf != nullptr && dwarf_offdie(dwarf, dwarf_dieoffset(&scopes[0]), &innermost) != nullptr;
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

DwflSession::DwflSession(pid_t pid) {
  dwfl_ = dwfl_begin(&kCallbacks);
  if (dwfl_ == nullptr) return;
  dwfl_report_begin(dwfl_);
  // Our own thread's id, not the pid: /proc/<pid>/maps is empty once the main thread has
  // ended (pthread_exit), /proc/<tid>/maps of a live thread never is.
  pid_t target = pid == 0 ? static_cast<pid_t>(syscall(SYS_gettid)) : pid;
  // On failure the module list is partial or empty; lookups then just find nothing.
  (void)dwfl_linux_proc_report(dwfl_, target);
  (void)dwfl_report_end(dwfl_, nullptr, nullptr);
  // Attaching (without ptrace: assume_ptrace_stopped) only records the pid, which lets
  // dwfl_linux_proc_find_elf read deleted and memfd objects from /proc/<pid>/mem.
  (void)dwfl_linux_proc_attach(dwfl_, target, true);
}

DwflSession::~DwflSession() {
  symbols_.clear();  // names point into the Dwfl's ELF data
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
}

const SymbolTable& DwflSession::symbols(Dwfl_Module* mod) {
  std::unique_ptr<SymbolTable>& table = symbols_[mod];
  if (table == nullptr) table = std::make_unique<SymbolTable>(mod);
  return *table;
}

bool DwflSession::lookup(uint64_t address, std::vector<SourceFrame>* frames, bool* has_file_line) {
  frames->clear();
  *has_file_line = false;
  if (dwfl_ == nullptr) return false;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, address);
  if (mod == nullptr) return false;

  const char* sym_name = symbols(mod).lookup(address);

  *frames = dwarf_frames(mod, address);
  if (frames->empty()) frames->emplace_back();
  // The physical function is named from the ELF symbol table when it has the address.
  SourceFrame& physical = frames->back();
  if (sym_name != nullptr) set_names(sym_name, &physical);

  // The innermost frame's position comes from the line table.
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, address)) {
    int lineno = 0;
    const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
    if (file != nullptr && lineno > 0) {
      frames->front().file = file;
      frames->front().line = lineno;
    }
  }
  // An inlined frame without a name says nothing; drop it (never the physical frame).
  for (size_t i = frames->size() - 1; i-- > 0;) {
    if ((*frames)[i].function.empty()) frames->erase(frames->begin() + static_cast<long>(i));
  }
  *has_file_line = !frames->front().file.empty() && frames->front().line > 0;
  for (const SourceFrame& f : *frames) {
    if (!f.function.empty()) return true;
  }
  return false;
}

}  // namespace profagent::symbolize
