// Heap sampler distribution and unsampling math (docs/pprof-semantics.md §5.1).
#include "collectors/heap/heap_sampler.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

#include "agent/agent.h"
#include "agent/runtime/hook_guard.h"
#include "collectors/heap/heap_scale.h"

namespace profagent {
namespace {

class RateScope {
 public:
  explicit RateScope(int64_t rate) : old_(g_heap_sample_rate.exchange(rate)) {}
  ~RateScope() { g_heap_sample_rate.store(old_); }

 private:
  int64_t old_;
};

TEST(HeapSampler, MeanIntervalIsTheRate) {
  for (int64_t rate : {int64_t{4096}, int64_t{524288}, int64_t{8} << 20}) {
    HeapSampler s;
    s.seed(12345 + rate);
    constexpr int kDraws = 200000;
    double sum = 0;
    int above_mean = 0;
    for (int i = 0; i < kDraws; ++i) {
      size_t v = s.pick_next_interval(rate);
      sum += static_cast<double>(v);
      if (static_cast<double>(v) > static_cast<double>(rate)) ++above_mean;
    }
    double mean = sum / kDraws;
    // Standard error of the mean of an exponential is rate/sqrt(n) = 0.22% here.
    EXPECT_NEAR(mean / static_cast<double>(rate), 1.0, 0.01) << "rate " << rate;
    // Exponential: P(X > mean) = 1/e.
    EXPECT_NEAR(static_cast<double>(above_mean) / kDraws, std::exp(-1.0), 0.006);
  }
}

TEST(HeapSampler, RateOneSamplesEveryAllocation) {
  RateScope rate(1);
  HeapSampler s;
  for (size_t size : {size_t{0}, size_t{1}, size_t{16}, size_t{1} << 20})
    for (int i = 0; i < 100; ++i) EXPECT_TRUE(s.record_allocation(size)) << size;
  EXPECT_EQ(s.pick_next_interval(1), 0u);
}

TEST(HeapSampler, SamplingProbabilityIsOneMinusExp) {
  constexpr int64_t kRate = 8192;
  RateScope rate(kRate);
  for (size_t size : {size_t{512}, size_t{8192}, size_t{32768}}) {
    HeapSampler s;
    s.seed(99 + size);
    constexpr int kAllocs = 200000;
    int sampled = 0;
    for (int i = 0; i < kAllocs; ++i) sampled += s.record_allocation(size) ? 1 : 0;
    double want = 1.0 - std::exp(-static_cast<double>(size) / kRate);
    EXPECT_NEAR(static_cast<double>(sampled) / kAllocs, want, 0.01) << "size " << size;
  }
}

TEST(HeapSampler, UnsampledEstimateOfManyAllocationsIsUnbiased) {
  constexpr int64_t kRate = 65536;
  RateScope rate(kRate);
  HeapSampler s;
  s.seed(7);
  constexpr int kAllocs = 2000000;
  constexpr size_t kSize = 1000;
  int64_t sampled = 0;
  for (int i = 0; i < kAllocs; ++i) sampled += s.record_allocation(kSize) ? 1 : 0;
  ScaledHeapValue est = scale_heap_sample(sampled, sampled * int64_t{kSize}, kRate);
  // ~30500 samples: standard error ~0.6%.
  EXPECT_NEAR(static_cast<double>(est.count) / kAllocs, 1.0, 0.03);
  EXPECT_NEAR(static_cast<double>(est.bytes) / (static_cast<double>(kAllocs) * kSize), 1.0, 0.03);
}

TEST(HeapSampler, BeforeStartNeverSamplesAndLooksAgainAtOnce) {
  // The unit test binary has no running agent: "not started yet".
  ASSERT_FALSE(agent_running());
  RateScope rate(0);
  HeapSampler s;
  EXPECT_FALSE(s.record_allocation(100));
  EXPECT_EQ(s.bytes_until_sample(), 0u);  // the next allocation takes the slow path again
  g_heap_sample_rate.store(1);
  EXPECT_TRUE(s.record_allocation(100));  // sampling starts with the very next allocation
}

TEST(HeapSampler, AgentAllocationsAreNotSampled) {
  RateScope rate(1);
  HeapSampler s;
  AgentScope scope;
  EXPECT_FALSE(s.record_allocation(100));
}

TEST(HeapSampler, FirstAllocationOfAThreadIsNotFavoured) {
  // A fresh sampler (countdown 0) must not sample its first small allocation every time.
  RateScope rate(524288);
  int sampled = 0;
  for (int i = 0; i < 2000; ++i) {
    HeapSampler s;
    s.seed(1000 + i);
    sampled += s.record_allocation(64) ? 1 : 0;
  }
  EXPECT_LT(sampled, 5);  // expected 2000 * (1 - exp(-64/524288)) = 0.24
}

// Nothing is reset at a fork: the child keeps its countdown and draws its next intervals from
// a seed of its own, not the parent's sequence.
TEST(HeapSampler, AForkChildDrawsIntervalsOfItsOwn) {
  RateScope rate(4096);
  HeapSampler s;
  s.seed(42);
  s.pick_next_interval(4096);
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    size_t drawn[8];
    for (size_t& d : drawn) d = s.pick_next_interval(4096);
    _exit(write(out[1], drawn, sizeof drawn) == sizeof drawn ? 0 : 1);
  }
  size_t parents[8], childs[8];
  for (size_t& d : parents) d = s.pick_next_interval(4096);
  close(out[1]);
  ASSERT_EQ(read(out[0], childs, sizeof childs), static_cast<ssize_t>(sizeof childs));
  close(out[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  int same = 0;
  for (int i = 0; i < 8; ++i) same += parents[i] == childs[i] ? 1 : 0;
  EXPECT_LT(same, 2) << "the child repeated the parent's intervals";
  // And the parent's own sequence went on from its seed, as before the fork.
  HeapSampler again;
  again.seed(42);
  again.pick_next_interval(4096);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(again.pick_next_interval(4096), parents[i]);
}

TEST(HeapScale, ReproducesGoNumbers) {
  // docs/pprof-semantics.md §5.1, checked against a real Go 1.19 heap profile.
  ScaledHeapValue small = scale_heap_sample(3, 3 * 1024, 524288);
  EXPECT_EQ(small.count, 1537);
  EXPECT_EQ(small.bytes, 1574400);
  ScaledHeapValue big = scale_heap_sample(1, 1 << 20, 524288);
  EXPECT_EQ(big.count, 1);
  EXPECT_EQ(big.bytes, 1212696);
}

// The sampler's log2 and the scaling's exp need no libm in the agent; both agree with libm.
TEST(HeapMath, Log2OfCountMatchesLibm) {
  for (uint64_t v = 1; v < 5000; ++v) EXPECT_NEAR(log2_of_count(v), std::log2(double(v)), 1e-13) << v;
  for (uint64_t v = 1; v <= (uint64_t{1} << 26); v = v * 3 + 7)
    EXPECT_NEAR(log2_of_count(v), std::log2(double(v)), 1e-13) << v;
  for (int e = 0; e < 40; ++e) EXPECT_EQ(log2_of_count(uint64_t{1} << e), double(e));
  EXPECT_NEAR(log2_of_count(uint64_t{1} << 26), 26.0, 0.0);
}

TEST(HeapMath, ExpForScalingMatchesLibm) {
  for (double x = -800; x <= 0; x += 0.37) {
    EXPECT_EQ(exp_for_scaling(x), std::exp(x)) << x;  // libm's own, opened at first use
    EXPECT_NEAR(exp_without_libm(x), std::exp(x), std::exp(x) * 1e-14 + 1e-300) << x;
  }
  EXPECT_NEAR(exp_without_libm(-1e-9), std::exp(-1e-9), 1e-18);
}

TEST(HeapScale, EdgeCases) {
  EXPECT_EQ(scale_heap_sample(0, 100, 524288).bytes, 0);
  EXPECT_EQ(scale_heap_sample(5, 0, 524288).count, 0);
  ScaledHeapValue every = scale_heap_sample(7, 700, 1);
  EXPECT_EQ(every.count, 7);
  EXPECT_EQ(every.bytes, 700);
}

}  // namespace
}  // namespace profagent
