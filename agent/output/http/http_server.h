// The live /debug/pprof endpoint (PROFAGENT_HTTP): one agent thread runs GNU libmicrohttpd
// in its external-epoll mode, so every connection is served on that one thread (all signals
// blocked, in-agent, left out of profiles) and no library-created thread ever exists.
// Requests observing a window are suspended and resumed at their deadline, so a 30-second
// CPU profile never ties the thread up. Limits: 32 connections (more are accepted and closed
// at once), 10 s of inactivity per connection, 32 KiB per connection for the request line
// and headers, windows of at most 300 s. The thread is detached and never joined: it never
// keeps the process from exiting. Normal context.
#pragma once

#include <string>

namespace profagent {

// Starts the server thread for `address` (a normalized PROFAGENT_HTTP value). Failures
// (address in use, library missing) are logged once as a warning; the program runs on.
void start_http_server(const std::string& address);

}  // namespace profagent
