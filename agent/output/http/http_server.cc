// The live endpoint's server thread: listening socket, libmicrohttpd daemon in external
// epoll mode, the poll loop, suspended window requests and their deadlines (see
// http_server.h). Normal context, on the agent thread "profagent-http", which has a file
// table of its own where the kernel allows one.
#include "agent/output/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <list>
#include <optional>
#include <string>

#include "agent/runtime/agent_thread.h"
#include "agent/runtime/private_files.h"
#include "agent/core/clock.h"
#include "agent/core/listen_address.h"
#include "agent/output/http/mhd_library.h"
#include "agent/output/http/pprof_endpoints.h"
#include "agent/core/log.h"

namespace profagent {
namespace {

constexpr unsigned kMaxConnections = 32;
constexpr unsigned kIdleTimeoutSeconds = 10;
constexpr size_t kConnectionMemory = 32 * 1024;  // request line + headers + response head
constexpr int kListenBacklog = 16;

// Constant-initialized: read by the fork child handler.
std::atomic<int> g_listen_fd{-1};
std::atomic<int> g_epoll_fd{-1};
// The server thread has a file table of its own: its descriptor numbers mean nothing in any
// other thread's table, nor in a fork child's (a copy of the forking thread's).
std::atomic<bool> g_private_table{false};

// What the two descriptors are (device and inode), to tell them from whatever a program that
// closed every descriptor later opened under the same numbers. Set once before use.
struct Identity {
  dev_t dev = 0;
  ino_t ino = 0;
};
Identity g_listen_id, g_epoll_id;

Identity identity_of(int fd) {
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return {};
  return {st.st_dev, st.st_ino};
}

// True if `fd` is still the object it was (async-signal-safe: fstat only).
bool still_ours(int fd, const Identity& id) {
  if (fd < 0 || id.ino == 0) return false;
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == id.dev && st.st_ino == id.ino;
}
const MhdApi* g_mhd = nullptr;

// One request's state between calls of the access handler (MHD's con_cls).
struct RequestState {
  std::optional<HttpResponse> ready;
  std::optional<PendingResponse> pending;
  MHD_Connection* connection = nullptr;
};

// Requests waiting for their deadline (suspended); at most kMaxConnections. Server thread.
std::list<RequestState*>* g_pending = nullptr;

void mhd_log(void*, const char* format, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, format, ap);
  size_t n = strlen(buf);
  while (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
  log_debug("http: {}", buf);
}

MHD_Result queue(MHD_Connection* connection, const HttpResponse& r) {
  MHD_Response* response = g_mhd->create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  g_mhd->add_response_header(response, "Content-Type", r.content_type.c_str());
  g_mhd->add_response_header(response, "X-Content-Type-Options", "nosniff");
  if (r.attachment)
    g_mhd->add_response_header(response, "Content-Disposition",
                               "attachment; filename=\"profile\"");
  MHD_Result ok = g_mhd->queue_response(connection, static_cast<unsigned>(r.status), response);
  g_mhd->destroy_response(response);
  return ok;
}

HttpResponse plain(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

MHD_Result on_request(void*, MHD_Connection* connection, const char* url, const char* method,
                      const char*, const char*, size_t* upload_size, void** con_cls) {
  auto* state = static_cast<RequestState*>(*con_cls);
  if (state == nullptr) {
    state = new RequestState;
    state->connection = connection;
    *con_cls = state;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
      state->ready = plain(405, "Method Not Allowed\n");
    } else {
      const char* seconds =
          g_mhd->lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "seconds");
      const char* debug =
          g_mhd->lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "debug");
      EndpointResult result;
      try {
        result = handle_pprof_request(url, seconds, debug);
      } catch (const std::exception& e) {  // bad_alloc and the like: never the host's problem
        result.now = plain(500, std::string("Internal Server Error: ") + e.what() + "\n");
      }
      if (result.now) {
        state->ready = std::move(result.now);
      } else {
        state->pending = std::move(result.later);
        g_pending->push_back(state);
        g_mhd->suspend_connection(connection);
        return MHD_YES;
      }
    }
  }
  if (*upload_size != 0) {  // a body nobody asked for: read and dropped
    *upload_size = 0;
    return MHD_YES;
  }
  if (state->ready) return queue(connection, *state->ready);
  return MHD_YES;  // still waiting (resumed early: never happens)
}

void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
  auto* state = static_cast<RequestState*>(*con_cls);
  if (state == nullptr) return;
  if (state->pending) g_pending->remove(state);
  delete state;
  *con_cls = nullptr;
}

// Finishes the requests whose window has ended and resumes their connections.
void finish_due_requests() {
  int64_t now = monotonic_nanos();
  for (auto it = g_pending->begin(); it != g_pending->end();) {
    RequestState* state = *it;
    if (state->pending->deadline_monotonic_nanos > now) {
      ++it;
      continue;
    }
    try {
      state->ready = state->pending->finish();
    } catch (const std::exception& e) {
      state->ready = plain(500, std::string("Internal Server Error: ") + e.what() + "\n");
    }
    state->pending.reset();
    it = g_pending->erase(it);
    g_mhd->resume_connection(state->connection);
  }
}

int poll_timeout_ms(MHD_Daemon* daemon) {
  int64_t timeout = 1000;
  MHD_UNSIGNED_LONG_LONG mhd_ms = 0;
  if (g_mhd->get_timeout(daemon, &mhd_ms) == MHD_YES && static_cast<int64_t>(mhd_ms) < timeout)
    timeout = static_cast<int64_t>(mhd_ms);
  int64_t now = monotonic_nanos();
  for (RequestState* s : *g_pending) {
    int64_t left = (s->pending->deadline_monotonic_nanos - now + 999999) / 1000000;
    if (left < timeout) timeout = left < 0 ? 0 : left;
  }
  return static_cast<int>(timeout);
}

int open_listen_socket(const ListenAddress& a, std::string* error) {
  int family = a.ipv6 ? AF_INET6 : AF_INET;
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    *error = strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // TIME_WAIT only, not sharing
  sockaddr_storage ss{};
  socklen_t len;
  if (a.ipv6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    memcpy(&s6->sin6_addr, a.ip, 16);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    memcpy(&s4->sin_addr, a.ip, 4);
    len = sizeof *s4;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, kListenBacklog) != 0) {
    *error = strerror(errno);
    close(fd);
    return -1;
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

// In a forked child the server thread is gone; its listening socket must not linger there
// (connections would queue on it unanswered once the parent is gone). With a file table of
// the server thread's own the child never had them: its numbers are the program's, and
// nothing is closed (an epoll or eventfd descriptor of the program's shares the anonymous
// inode of ours and would pass still_ours). Async-signal-safe.
void close_in_fork_child() {
  int listen_fd = g_listen_fd.exchange(-1);
  int epoll_fd = g_epoll_fd.exchange(-1);
  if (g_private_table.load()) return;
  // Shared table: only if still ours (the program may have closed them and reused the
  // numbers); the epoll descriptor only along with the listening socket, whose inode is its
  // own.
  if (!still_ours(listen_fd, g_listen_id)) return;
  close(listen_fd);
  if (still_ours(epoll_fd, g_epoll_id)) close(epoll_fd);
}

// The server gives up at start: what it opened is closed (in a table of its own, the
// thread's end closes it anyway).
void close_ours() {
  int listen_fd = g_listen_fd.exchange(-1);
  int epoll_fd = g_epoll_fd.exchange(-1);
  if (listen_fd >= 0) close(listen_fd);
  if (epoll_fd >= 0) close(epoll_fd);
}

void* server_main(void* arg) {
  // Its sockets, epoll descriptor and libmicrohttpd's files never take a number of the
  // program's, and a program that closes every descriptor it did not open (a daemon's start)
  // cannot close them (agent/runtime/private_files.h).
  g_private_table.store(enter_private_file_table());
  std::string* text = static_cast<std::string*>(arg);
  std::optional<ListenAddress> address = parse_listen_address(*text);
  delete text;
  if (!address) return nullptr;  // parse_config already accepted it; never happens
  if (!address->loopback)
    log().warn("PROFAGENT_HTTP={} is not a loopback address: anyone who can reach it can "
               "read this process's stacks; use 127.0.0.1 unless that is intended",
               address->text);
  std::string error;
  g_mhd = load_mhd(&error);
  if (g_mhd == nullptr) {
    log().warn("PROFAGENT_HTTP: {}; no live endpoint in this process", error);
    return nullptr;
  }
  int fd = open_listen_socket(*address, &error);
  if (fd < 0) {
    log().warn("PROFAGENT_HTTP: cannot listen on {} ({}); no live endpoint in pid {}",
               address->text, error, getpid());
    return nullptr;
  }
  g_listen_id = identity_of(fd);
  g_listen_fd.store(fd);
  g_pending = new std::list<RequestState*>;
  MHD_Daemon* daemon = g_mhd->start_daemon(
      MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, nullptr, nullptr,
      &on_request, nullptr,
      MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr,
      MHD_OPTION_LISTEN_SOCKET, fd,
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,
      MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemory,
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, nullptr,
      MHD_OPTION_END);
  const MHD_DaemonInfo* info =
      daemon != nullptr ? g_mhd->get_daemon_info(daemon, MHD_DAEMON_INFO_EPOLL_FD) : nullptr;
  if (info == nullptr) {
    log().warn("PROFAGENT_HTTP: cannot start the HTTP server on {}; no live endpoint",
               address->text);
    close_ours();
    return nullptr;
  }
  g_epoll_id = identity_of(info->epoll_fd);
  g_epoll_fd.store(info->epoll_fd);
  log_info("live profiling at http://{}:{}/debug/pprof/ (pid {})",
           address->text.substr(0, address->text.rfind(':')), bound_port(fd), getpid());

  for (;;) {
    pollfd p{info->epoll_fd, POLLIN, 0};
    int n = poll(&p, 1, poll_timeout_ms(daemon));
    if (n < 0 && errno != EINTR) break;
    if (n > 0 && (p.revents & POLLNVAL) != 0) break;  // the program closed our descriptors
    // Closed and the numbers reused (a daemon closing every descriptor, then opening its
    // log): never hand them to libmicrohttpd again.
    if (!still_ours(info->epoll_fd, g_epoll_id) || !still_ours(fd, g_listen_id)) break;
    g_mhd->run(daemon);
    finish_due_requests();
  }
  // Never spin on a dead descriptor; the daemon is left as it is (a host that closes
  // descriptors it does not own may have reused them: nothing of ours is closed here).
  g_listen_fd.store(-1);
  g_epoll_fd.store(-1);
  log().warn("PROFAGENT_HTTP: the program closed the endpoint's descriptors; the live "
             "endpoint stopped (pid {})", getpid());
  return nullptr;
}

}  // namespace

void start_http_server(const std::string& address) {
  static std::atomic<bool> registered{false};
  if (!registered.exchange(true)) pthread_atfork(nullptr, nullptr, close_in_fork_child);
  pthread_t thread;
  auto* arg = new std::string(address);
  int rc = create_agent_thread(&thread, server_main, arg, "profagent-http");
  if (rc != 0) {
    delete arg;
    log().warn("PROFAGENT_HTTP: cannot start the server thread ({}); no live endpoint",
               strerror(rc));
    return;
  }
  pthread_detach(thread);
}

}  // namespace profagent
