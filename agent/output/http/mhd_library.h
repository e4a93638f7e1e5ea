// GNU libmicrohttpd, loaded with dlopen only when PROFAGENT_HTTP is set: a host that does not
// ask for the live endpoint never gets libmicrohttpd (and its GnuTLS dependency) mapped into
// it. The handful of functions the server uses, resolved by name. Normal context.
#pragma once

#include <microhttpd.h>

#include <string>

namespace profagent {

struct MhdApi {
  decltype(&MHD_start_daemon) start_daemon;
  decltype(&MHD_get_daemon_info) get_daemon_info;
  decltype(&MHD_get_timeout) get_timeout;
  decltype(&MHD_run) run;
  decltype(&MHD_lookup_connection_value) lookup_connection_value;
  decltype(&MHD_create_response_from_buffer) create_response_from_buffer;
  decltype(&MHD_add_response_header) add_response_header;
  decltype(&MHD_queue_response) queue_response;
  decltype(&MHD_destroy_response) destroy_response;
  decltype(&MHD_suspend_connection) suspend_connection;
  decltype(&MHD_resume_connection) resume_connection;
};

// The loaded library's functions (loaded once, never unloaded), or nullptr with `error` set.
const MhdApi* load_mhd(std::string* error);

}  // namespace profagent
