// A server-like C++ program: a thread pool of 4 workers waiting on a std::condition_variable
// for jobs, and an event loop thread in epoll_wait on an eventfd. It runs for argv[1] seconds
// (default 2), posting a few short jobs, then shuts down. Every wait must return normally.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace {

std::mutex g_mutex;
std::condition_variable g_cv;
std::deque<std::function<void()>> g_jobs;
bool g_stop = false;
std::atomic<bool> g_failed{false};
std::atomic<unsigned long> g_handled{0};

__attribute__((noinline)) void worker_loop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(g_mutex);
      g_cv.wait(lock, [] { return g_stop || !g_jobs.empty(); });
      if (g_jobs.empty()) return;
      job = std::move(g_jobs.front());
      g_jobs.pop_front();
    }
    job();
  }
}

__attribute__((noinline)) void event_loop(int epfd, int efd) {
  for (;;) {
    epoll_event ev[4];
    int n = epoll_wait(epfd, ev, 4, -1);
    if (n < 0) {
      std::fprintf(stderr, "event_loop: epoll_wait: %s\n", std::strerror(errno));
      g_failed = true;
      if (errno != EINTR) return;
      continue;
    }
    uint64_t v = 0;
    if (read(efd, &v, sizeof v) != sizeof v) g_failed = true;
    if (v >= 1000000) return;  // the stop value
    std::lock_guard<std::mutex> lock(g_mutex);
    g_jobs.push_back([] { g_handled.fetch_add(1); });
    g_cv.notify_one();
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  int efd = eventfd(0, EFD_CLOEXEC);
  int epfd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = efd;
  epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev);
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i) {
    pool.emplace_back(worker_loop);
    pthread_setname_np(pool.back().native_handle(), "worker");
  }
  std::thread loop(event_loop, epfd, efd);
  pthread_setname_np(loop.native_handle(), "event-loop");
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t one = 1;
    if (write(efd, &one, sizeof one) != sizeof one) g_failed = true;  // one request
  }
  uint64_t stop = 1000000;
  if (write(efd, &stop, sizeof stop) != sizeof stop) g_failed = true;
  loop.join();
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_stop = true;
  }
  g_cv.notify_all();
  for (auto& t : pool) t.join();
  std::printf("handled %lu\n", g_handled.load());
  return g_failed ? 3 : 0;
}
