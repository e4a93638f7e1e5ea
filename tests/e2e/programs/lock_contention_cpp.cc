// std::mutex and std::shared_mutex contention that measures its own waits (locks e2e tests).
//   lock_contention_cpp mutex: 4 threads take one std::mutex 40 times each in contend_lock(),
//     hold it ~1 ms, release it in release_lock().
//   lock_contention_cpp shared: the same with a std::shared_mutex: lock() in contend_lock(),
//     unlock() in release_lock(); every fourth turn takes it shared instead (lock_shared() in
//     contend_lock_shared(), unlock_shared() in release_lock_shared()).
// Output: "measured_wait_ns <N>", the total time spent inside lock()/lock_shared(), and
// "measured_until_unlock_ns <N>", the part of it that ended at an unlock (per acquisition:
// from the call to the last unlock before the lock was taken; the rest is wake-up latency,
// which the mutex profile charges to nobody).
#include <atomic>
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
long long g_until_unlock_ns[kThreads];
std::atomic<long long> g_last_unlock_ns{0};  // stored just before every unlock

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void hold() { std::this_thread::sleep_for(std::chrono::milliseconds(1)); }

// Books one acquisition of thread i that started at t0 and ended (the lock taken) at t1.
void account(int i, long long t0, long long t1) {
  g_wait_ns[i] += t1 - t0;
  long long unlock = g_last_unlock_ns.load();
  if (unlock > t0 && unlock < t1) g_until_unlock_ns[i] += unlock - t0;
}

template <typename M>
__attribute__((noinline)) void contend_lock(M& m, int i) {
  long long t0 = now_ns();
  m.lock();
  account(i, t0, now_ns());
}

template <typename M>
__attribute__((noinline)) void release_lock(M& m) {
  g_last_unlock_ns.store(now_ns());
  m.unlock();
}

__attribute__((noinline)) void contend_lock_shared(int i) {
  long long t0 = now_ns();
  g_shared.lock_shared();
  account(i, t0, now_ns());
}

__attribute__((noinline)) void release_lock_shared() {
  g_last_unlock_ns.store(now_ns());
  g_shared.unlock_shared();
}

}  // namespace

int main(int argc, char** argv) {
  bool shared = argc > 1 && strcmp(argv[1], "shared") == 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([i, shared] {
      for (int n = 0; n < kLocks; ++n) {
        if (!shared) {
          contend_lock(g_mutex, i);
          hold();
          release_lock(g_mutex);
        } else if ((n + i) % 4 == 3) {
          contend_lock_shared(i);
          hold();
          release_lock_shared();
        } else {
          contend_lock(g_shared, i);
          hold();
          release_lock(g_shared);
        }
      }
    });
  for (auto& t : threads) t.join();
  long long total = 0, until_unlock = 0;
  for (int i = 0; i < kThreads; ++i) {
    total += g_wait_ns[i];
    until_unlock += g_until_unlock_ns[i];
  }
  std::printf("measured_wait_ns %lld\n", total);
  std::printf("measured_until_unlock_ns %lld\n", until_unlock);
  return 0;
}
