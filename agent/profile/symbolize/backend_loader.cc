// Private, lazy loading of libprofagent-symbolize.so. Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend_loader.h"

#include <dlfcn.h>
#include <link.h>
#include <limits.h>
#include <stdlib.h>

#include <atomic>
#include <mutex>
#include <string>

#include "agent/core/contained.h"
#include "agent/core/fork_gate.h"
#include "agent/core/log.h"
#include "agent/core/code_layout.h"

namespace profagent::symbolize {
namespace {

constexpr const char* kBackendFile = "libprofagent-symbolize.so";

std::once_flag g_once;
const BackendApi* g_api = nullptr;
std::atomic<bool> g_loaded{false};

// Set by remember_backend_directory() at start, from the agent's constructor, which runs
// before this file's dynamic initializers: a function-local static, never a global string
// (assigning to a not-yet-constructed one crashed the host for a short directory name).
std::string& own_directory_slot() {
  static std::string dir;
  return dir;
}

// Directory of the object this code is linked into (libprofagent.so, or a test binary), made
// absolute: LD_PRELOAD may name it relative to a working directory the program later leaves.
std::string own_directory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&own_directory), &info) == 0 || info.dli_fname == nullptr)
    return {};
  char* real = realpath(info.dli_fname, nullptr);
  std::string path = real != nullptr ? real : info.dli_fname;
  free(real);
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

void* open_backend(std::string* error) {
  const std::string& remembered = own_directory_slot();
  std::string candidates[2] = {remembered.empty() ? own_directory() : remembered};
#ifdef PROFAGENT_SYMBOLIZE_BACKEND_DIR
  // The build tree, for unit tests whose binaries live elsewhere.
  candidates[1] = PROFAGENT_SYMBOLIZE_BACKEND_DIR;
#endif
  for (const std::string& dir : candidates) {
    if (dir.empty()) continue;
    std::string path = dir + "/" + kBackendFile;
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    const char* e = dlerror();
    if (error->empty() && e != nullptr) *error = e;
  }
  return nullptr;
}

void load_locked();

// Run by std::call_once, which is pthread_once here: nothing may be thrown through its C
// frames (out of memory for a path: no backend in this process, as when it cannot load).
void load() {
  ForkGateSection gate;  // dlopen and dlsym take the loader's lock (fork_gate.h)
  if (!run_contained("loading the symbolizer", load_locked)) g_api = nullptr;
  g_loaded.store(g_api != nullptr, std::memory_order_relaxed);
}

void load_locked() {
  std::string error;
  void* handle = open_backend(&error);
  if (handle != nullptr) {
    using Entry = const BackendApi* (*)(uint32_t);
    auto entry = reinterpret_cast<Entry>(dlsym(handle, "profagent_symbolize_backend"));
    g_api = entry != nullptr ? entry(kBackendAbiVersion) : nullptr;
    if (g_api == nullptr) error = std::string(kBackendFile) + " is from another version";
  }
  if (g_api == nullptr) {
    log().warn("cannot load the symbolizer ({}); frames are named module+offset", error);
  }
}

}  // namespace

PROFAGENT_START_PATH
void remember_backend_directory() {
  // Only a relative name depends on the working directory; an absolute one (the usual
  // LD_PRELOAD) is resolved when the backend is first needed, so a process that never
  // symbolizes spends no readlink on it.
  // (_dl_find_object: dladdr would also scan the symbol table for the nearest symbol.)
  dl_find_object self;
  if (_dl_find_object(reinterpret_cast<void*>(&own_directory), &self) == 0 &&
      self.dlfo_link_map != nullptr && self.dlfo_link_map->l_name != nullptr &&
      self.dlfo_link_map->l_name[0] == '/')
    return;
  if (own_directory_slot().empty()) own_directory_slot() = own_directory();
}

const BackendApi* symbolize_backend() {
  std::call_once(g_once, load);
  return g_api;
}

bool symbolize_backend_loaded() { return g_loaded.load(std::memory_order_relaxed); }

}  // namespace profagent::symbolize
