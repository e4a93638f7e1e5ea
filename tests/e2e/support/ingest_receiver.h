// End-to-end test support for the push path: a loopback HTTP server on
// 127.0.0.1 and an ephemeral port that takes Pyroscope ingest requests and records them,
// or misbehaves on purpose (hangs, resets the connection, answers 500) so tests can show a
// bad server never changes the program. Header-only; one thread per receiver.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace e2e {

struct SeenRequest {
  std::string method, path;
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

inline std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

class IngestReceiver {
 public:
  enum class Mode { kOk, kHang, kReset, kError500 };

  explicit IngestReceiver(Mode mode) : mode_(mode) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(listen_fd_, 64);
    socklen_t len = sizeof addr;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (pipe2(stop_pipe_, O_CLOEXEC) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
    thread_ = std::thread([this] { serve(); });
  }
  ~IngestReceiver() {
    stop_ = true;
    char c = 1;
    ssize_t ignored = write(stop_pipe_[1], &c, 1);
    (void)ignored;
    thread_.join();
    for (int fd : held_) close(fd);
    close(listen_fd_);
    close(stop_pipe_[0]);
    close(stop_pipe_[1]);
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<SeenRequest> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int connections() const { return connections_.load(); }

 private:
  // Waits for `fd` to be readable; false on stop or after `ms`.
  bool wait_readable(int fd, int ms) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(p, 2, ms) <= 0) return false;
    return !stop_ && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
  }

  // Reads one request from `fd`; false if the client went away or took too long.
  bool read_request(int fd, SeenRequest* req) {
    std::string data;
    char buf[65536];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    for (;;) {
      if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length)
        break;
      if (!wait_readable(fd, 5000)) return false;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return false;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != std::string::npos) {
        std::string head = data.substr(0, header_end);
        size_t line_end = head.find("\r\n");
        std::string first = head.substr(0, line_end);
        size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
        req->method = first.substr(0, sp1);
        std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
        size_t q = target.find('?');
        req->path = target.substr(0, q);
        if (q != std::string::npos) {
          std::string query = target.substr(q + 1);
          size_t pos = 0;
          while (pos <= query.size()) {
            size_t amp = query.find('&', pos);
            if (amp == std::string::npos) amp = query.size();
            std::string kv = query.substr(pos, amp - pos);
            size_t eq = kv.find('=');
            if (!kv.empty())
              req->query[percent_decode(kv.substr(0, eq))] =
                  eq == std::string::npos ? "" : percent_decode(kv.substr(eq + 1));
            pos = amp + 1;
          }
        }
        size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
        while (pos < head.size()) {
          size_t e = head.find("\r\n", pos);
          if (e == std::string::npos) e = head.size();
          std::string h = head.substr(pos, e - pos);
          size_t colon = h.find(':');
          if (colon != std::string::npos) {
            std::string name = h.substr(0, colon);
            std::transform(name.begin(), name.end(), name.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            std::string value = h.substr(colon + 1);
            value.erase(0, value.find_first_not_of(' '));
            req->headers[name] = value;
          }
          pos = e + 2;
        }
        if (req->headers.count("content-length"))
          content_length = std::stoul(req->headers["content-length"]);
      }
    }
    req->body = data.substr(header_end + 4, content_length);
    return true;
  }

  void serve() {
    while (!stop_) {
      if (!wait_readable(listen_fd_, 200)) continue;
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      SeenRequest req;
      bool got = read_request(fd, &req);
      if (got) {
        std::lock_guard<std::mutex> lock(mutex_);
        requests_.push_back(req);
      }
      switch (mode_) {
        case Mode::kOk: {
          const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
          ssize_t ignored = write(fd, ok, sizeof ok - 1);
          (void)ignored;
          close(fd);
          break;
        }
        case Mode::kError500: {
          const char err[] =
              "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: close\r\n\r\noops";
          ssize_t ignored = write(fd, err, sizeof err - 1);
          (void)ignored;
          close(fd);
          break;
        }
        case Mode::kReset: {
          linger l{1, 0};  // close with RST
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
          close(fd);
          break;
        }
        case Mode::kHang:
          held_.push_back(fd);  // never answered, never closed while the test runs
          break;
      }
    }
  }

  Mode mode_;
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::vector<int> held_;
  std::mutex mutex_;
  std::vector<SeenRequest> requests_;
  std::thread thread_;
};

}  // namespace e2e
