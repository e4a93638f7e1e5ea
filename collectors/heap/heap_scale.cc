// Go's scaleHeapSample (runtime/pprof/protomem.go). Normal context.
// exp() is libm's, resolved at the first scaling (dlopen, RTLD_LOCAL): libprofagent.so does not
// link libm, so a process that writes no heap sample (most short ones) never maps it.
#include "collectors/heap/heap_scale.h"

#include "agent/core/fork_gate.h"

#include <dlfcn.h>

namespace profagent {

// exp(x) for x <= 0 if libm cannot be opened: 2^k · e^r with |r| <= ln2/2 and a Taylor
// series of e^r (relative error about 1e-15).
double exp_without_libm(double x) {
  if (x < -745.0) return 0.0;
  // ln 2 split in two (Cody and Waite): k·kLn2Hi is exact, so r keeps its precision.
  constexpr double kLn2Hi = 6.93147180369123816490e-01, kLn2Lo = 1.90821492927058770002e-10;
  constexpr double kLog2e = 1.44269504088896338700e+00;
  long k = static_cast<long>(x * kLog2e + (x < 0 ? -0.5 : 0.5));
  double r = (x - static_cast<double>(k) * kLn2Hi) - static_cast<double>(k) * kLn2Lo;
  double term = 1.0, sum = 1.0;
  for (int i = 1; i < 20; ++i) {
    term *= r / i;
    sum += term;
  }
  for (; k < 0; ++k) sum *= 0.5;
  for (; k > 0; --k) sum *= 2.0;
  return sum;
}

namespace {

using ExpFn = double (*)(double);

ExpFn libm_exp() {
  static const ExpFn fn = [] {
    profagent::ForkGateSection gate;  // dlopen takes the loader's lock (fork_gate.h)
    void* libm = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    void* f = libm != nullptr ? dlsym(libm, "exp") : nullptr;
    return f != nullptr ? reinterpret_cast<ExpFn>(f) : &exp_without_libm;
  }();
  return fn;
}

}  // namespace

double exp_for_scaling(double x) { return libm_exp()(x); }

// An object of S bytes is sampled with probability P(S) = 1 - exp(-S/R) (heap_sampler.cc),
// so each sampled object stands for 1/P(S) objects on average. A bucket holds objects of one
// size; Go uses the bucket's average size (bytes/count), which is exact for one size and is
// what makes our output comparable with Go's. Values are truncated, as Go does.
ScaledHeapValue scale_heap_sample(int64_t count, int64_t bytes, int64_t rate) {
  if (count <= 0 || bytes <= 0) return {0, 0};
  if (rate <= 1) return {count, bytes};
  double avg = static_cast<double>(bytes) / static_cast<double>(count);
  double scale = 1.0 / (1.0 - exp_for_scaling(-avg / static_cast<double>(rate)));
  return {static_cast<int64_t>(static_cast<double>(count) * scale),
          static_cast<int64_t>(static_cast<double>(bytes) * scale)};
}

}  // namespace profagent
