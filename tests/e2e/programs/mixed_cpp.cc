// e2e program: C++ mixing exceptions, templates, std::mutex, std::shared_mutex, condition
// variables and STL containers on several threads, with deterministic output.
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

template <typename T>
T checked_div(T a, T b) {
  if (b == 0) throw std::domain_error("division by zero");
  return a / b;
}

int main() {
  std::mutex m;
  std::shared_mutex sm;
  std::condition_variable cv;
  std::map<int, long> totals;
  int ready = 0;
  long errors = 0;
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      long local = 0, local_errors = 0;
      for (int i = 0; i < 20000; ++i) {
        try {
          local += checked_div<long>(i * (t + 1), i % 7);
        } catch (const std::domain_error&) {
          ++local_errors;
        }
        if (i % 100 == 0) {
          std::shared_lock<std::shared_mutex> r(sm);
          (void)totals.size();
        }
      }
      {
        std::unique_lock<std::shared_mutex> w(sm);
        totals[t] = local;
      }
      std::lock_guard<std::mutex> g(m);
      errors += local_errors;
      ++ready;
      cv.notify_one();
    });
  {
    std::unique_lock<std::mutex> g(m);
    cv.wait(g, [&] { return ready == 4; });
  }
  for (auto& th : pool) th.join();
  for (const auto& [t, v] : totals) std::printf("thread %d total %ld\n", t, v);
  std::printf("errors %ld\n", errors);
  return 0;
}
