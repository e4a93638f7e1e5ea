// e2e program: threads throw and catch C++ exceptions through several frames in a loop while
// the agent samples at a high rate: a signal landing inside the unwinder of a throw must
// never hang or crash. Usage: exception_storm [threads] [iterations]
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

__attribute__((noinline)) void deepest(int i) {
  if (i >= 0) throw std::runtime_error("storm " + std::to_string(i));
}
__attribute__((noinline)) void middle(int i) { deepest(i); }
__attribute__((noinline)) void outer(int i) { middle(i); }

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 4;
  long iterations = argc > 2 ? std::atol(argv[2]) : 20000;
  std::vector<long> caught(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([t, iterations, &caught] {
      for (long i = 0; i < iterations; ++i) {
        try {
          outer(static_cast<int>(i));
        } catch (const std::runtime_error&) {
          ++caught[t];
        }
      }
    });
  for (auto& th : pool) th.join();
  long total = 0;
  for (long c : caught) total += c;
  std::printf("caught %ld\n", total);
  return total == threads * iterations ? 0 : 1;
}
