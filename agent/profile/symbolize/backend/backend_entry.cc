// The entry point of libprofagent-symbolize.so: the function table the agent finds with dlsym
// after dlopen(RTLD_LOCAL). The only symbol this object exports. Normal context only.
#include <cstring>
#include <memory>

#include "agent/profile/symbolize/backend/backend_stats.h"
#include "agent/profile/symbolize/backend/libdw_oom.h"
#include "agent/profile/symbolize/backend/object_file.h"
#include "agent/profile/symbolize/backend_api.h"

namespace profagent::symbolize {
namespace {

// Each entry runs through backend_call (libdw_oom.h): libdw out of memory, or anything
// thrown, fails the call; nothing ends the process or crosses into the agent.
void* open_object(const char* path, const char* build_id, const char* dwarf_copy_dir) {
  return backend_call<void*>(nullptr, [&]() -> void* {
    auto main = std::make_unique<MappedElf>(path);
    if (main->elf() == nullptr) return nullptr;
    std::string expected = build_id != nullptr ? build_id : "";
    std::string actual = main->build_id();
    if (!expected.empty() && !actual.empty() && expected != actual) return nullptr;
    backend_counters().objects_opened++;
    return new ObjectFile(std::move(main), path, actual.empty() ? expected : actual,
                          dwarf_copy_dir != nullptr ? dwarf_copy_dir : "");
  });
}

void* open_image(const void* bytes, size_t size) {
  return backend_call<void*>(nullptr, [&]() -> void* {
    auto main = std::make_unique<MappedElf>(bytes, size);
    if (main->elf() == nullptr) return nullptr;
    backend_counters().objects_opened++;
    std::string id = main->build_id();
    return new ObjectFile(std::move(main), "", id, "");
  });
}

// (Once libdw gave up, objects are left as they are: their state may be half-updated.)
void close_object(void* object) {
  backend_call<bool>(false, [&] {
    delete static_cast<ObjectFile*>(object);
    return true;
  });
}

bool file_offset_to_vaddr(void* object, uint64_t file_offset, uint64_t* vaddr) {
  return backend_call<bool>(false, [&] {
    return static_cast<ObjectFile*>(object)->file_offset_to_vaddr(file_offset, vaddr);
  });
}

bool lookup(void* object, uint64_t vaddr, std::vector<SourceFrame>* frames, bool* has_file_line,
            uint64_t* same_from, uint64_t* same_to) {
  return backend_call<bool>(false, [&] {
    return static_cast<ObjectFile*>(object)->lookup(vaddr, frames, has_file_line, same_from,
                                                    same_to);
  });
}

bool g_libdw_errors_redirected = false;  // set once, before the table is handed out

void stats(BackendStats* out) {
  *out = backend_counters();
  out->libdw_errors_redirected = g_libdw_errors_redirected;
  out->libdw_out_of_memory = libdw_gave_up();
}

const BackendApi kApi = {
    .abi_version = kBackendAbiVersion,
    .open_object = open_object,
    .open_image = open_image,
    .close_object = close_object,
    .file_offset_to_vaddr = file_offset_to_vaddr,
    .lookup = lookup,
    .stats = stats,
};

}  // namespace

BackendStats& backend_counters() {
  static BackendStats counters;
  return counters;
}

}  // namespace profagent::symbolize

extern "C" __attribute__((visibility("default"))) const profagent::symbolize::BackendApi*
profagent_symbolize_backend(uint32_t abi_version) {
  if (abi_version != profagent::symbolize::kBackendAbiVersion) return nullptr;
  // (If not redirected, libdw's out-of-memory exit stays possible, as before.)
  static const bool redirected = profagent::symbolize::g_libdw_errors_redirected =
      profagent::symbolize::redirect_libdw_errors();
  (void)redirected;
  return &profagent::symbolize::kApi;
}
