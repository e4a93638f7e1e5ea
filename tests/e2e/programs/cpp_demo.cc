// e2e program: C++ CPU work in a namespace, a class template and an overloaded member, so
// the profile must show demangled names with file:line.
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace demo {

template <typename T>
class Accumulator {
 public:
  __attribute__((noinline)) T churn(const std::vector<T>& values, int passes) {
    T total = 0;
    for (int p = 0; p < passes; ++p)
      for (const T& v : values) total = total * static_cast<T>(0.999) + v;
    return total;
  }
};

__attribute__((noinline)) double run_doubles(int passes) {
  std::vector<double> values(4096, 1.5);
  Accumulator<double> acc;
  return acc.churn(values, passes);
}

}  // namespace demo

int main(int argc, char** argv) {
  int passes = argc > 1 ? std::atoi(argv[1]) : 60000;
  std::printf("result %.3f\n", demo::run_doubles(passes));
  return 0;
}
