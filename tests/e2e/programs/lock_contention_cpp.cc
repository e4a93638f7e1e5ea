// std::mutex and std::shared_mutex contention that measures its own waits (locks e2e tests).
//   lock_contention_cpp mutex: 4 threads take one std::mutex 40 times each in contend_lock(),
//     hold it ~1 ms, release it in release_lock().
//   lock_contention_cpp shared: the same with a std::shared_mutex: lock() in contend_lock(),
//     unlock() in release_lock(); every fourth turn takes it shared instead (lock_shared() in
//     contend_lock_shared(), unlock_shared() in release_lock_shared()).
// Output: "measured_wait_ns <N>", the total time spent inside lock()/lock_shared().
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 4;
constexpr int kLocks = 40;

std::mutex g_mutex;
std::shared_mutex g_shared;
long long g_wait_ns[kThreads];

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void hold() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

template <typename M>
__attribute__((noinline)) long long contend_lock(M& m) {
  long long t0 = now_ns();
  m.lock();
  return now_ns() - t0;
}

template <typename M>
__attribute__((noinline)) void release_lock(M& m) {
  m.unlock();
}

__attribute__((noinline)) long long contend_lock_shared() {
  long long t0 = now_ns();
  g_shared.lock_shared();
  return now_ns() - t0;
}

__attribute__((noinline)) void release_lock_shared() { g_shared.unlock_shared(); }

}  // namespace

int main(int argc, char** argv) {
  bool shared = argc > 1 && strcmp(argv[1], "shared") == 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([i, shared] {
      for (int n = 0; n < kLocks; ++n) {
        if (!shared) {
          g_wait_ns[i] += contend_lock(g_mutex);
          hold();
          release_lock(g_mutex);
        } else if ((n + i) % 4 == 3) {
          g_wait_ns[i] += contend_lock_shared();
          hold();
          release_lock_shared();
        } else {
          g_wait_ns[i] += contend_lock(g_shared);
          hold();
          release_lock(g_shared);
        }
      }
    });
  for (auto& t : threads) t.join();
  long long total = 0;
  for (long long w : g_wait_ns) total += w;
  std::printf("measured_wait_ns %lld\n", total);
  return 0;
}
