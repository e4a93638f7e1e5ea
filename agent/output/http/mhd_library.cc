// dlopen of libmicrohttpd.so.12 and lookup of its functions (see mhd_library.h). Normal
// context, on the HTTP server thread (never in the constructor).
#include "agent/output/http/mhd_library.h"

#include "agent/core/fork_gate.h"

#include <dlfcn.h>

#include <type_traits>

namespace profagent {

const MhdApi* load_mhd(std::string* error) {
  static MhdApi* api = nullptr;  // function-local: set once by the one server thread
  if (api != nullptr) return api;
  ForkGateSection gate;  // dlopen and dlsym take the loader's lock (fork_gate.h)
  void* lib = dlopen("libmicrohttpd.so.12", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    *error = std::string("cannot load libmicrohttpd.so.12 (Debian package libmicrohttpd12): ") +
             (e != nullptr ? e : "?");
    return nullptr;
  }
  auto* a = new MhdApi;
  bool ok = true;
  auto get = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    if (fn == nullptr) {
      ok = false;
      *error = std::string("libmicrohttpd.so.12 lacks ") + name;
    }
  };
  get(a->start_daemon, "MHD_start_daemon");
  get(a->get_daemon_info, "MHD_get_daemon_info");
  get(a->get_timeout, "MHD_get_timeout");
  get(a->run, "MHD_run");
  get(a->lookup_connection_value, "MHD_lookup_connection_value");
  get(a->create_response_from_buffer, "MHD_create_response_from_buffer");
  get(a->add_response_header, "MHD_add_response_header");
  get(a->queue_response, "MHD_queue_response");
  get(a->destroy_response, "MHD_destroy_response");
  get(a->suspend_connection, "MHD_suspend_connection");
  get(a->resume_connection, "MHD_resume_connection");
  if (!ok) {
    delete a;
    return nullptr;  // the library stays loaded: unloading a half-used library is riskier
  }
  api = a;
  return api;
}

}  // namespace profagent
