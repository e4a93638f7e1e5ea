// The sampled-object region allocator: size classes, placement, reuse, alignment, bounds.
#include "collectors/heap/heap_region.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

constexpr size_t kGiB = size_t{1} << 30;

TEST(HeapRegionClasses, SmallestClassThatFits) {
  for (size_t b = 1; b < (size_t{1} << 24); b = b < 4096 ? b + 1 : b + b / 7) {
    int i = heap_class_index(b);
    ASSERT_GE(heap_class_size(i), b) << b;
    if (i > 0) {
      ASSERT_LT(heap_class_size(i - 1), b) << b;
    }
    if (b > 128) {
      ASSERT_LE(heap_class_size(i), b + b / 4 + 1) << b;  // <= 25% waste
    }
  }
  EXPECT_EQ(heap_class_size(HeapRegion::kMaxClasses - 1), size_t{1} << 40);
}

TEST(HeapRegion, AllocateInfoRelease) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  EXPECT_FALSE(r.contains(nullptr));
  int local = 0;
  EXPECT_FALSE(r.contains(&local));
  void* p = r.allocate(100, 16, 77);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(r.contains(p));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
  HeapRegion::ObjectInfo info = r.info(p);
  ASSERT_TRUE(info.valid);
  EXPECT_EQ(info.tag, 77u);
  EXPECT_EQ(info.size, 100u);
  EXPECT_GE(info.usable, 100u);
  memset(p, 0xab, info.usable);
  r.set_tag(p, 5);
  EXPECT_EQ(r.info(p).tag, 5u);
  EXPECT_EQ(r.stats().live_objects, 1u);
  EXPECT_EQ(r.stats().live_bytes, 100u);
  r.release(p);
  EXPECT_EQ(r.stats().live_objects, 0u);
  EXPECT_FALSE(r.info(p).valid);
  // The block is reused for the next object of its class.
  void* q = r.allocate(100, 16, 1);
  EXPECT_EQ(q, p);
  r.release(q);
}

// One sampled object in each of eight small classes (a process with a few samples) lies on
// eight neighbouring pages, not in eight 64 KiB chunks: a class's first chunk holds one
// block, each next one doubles, up to 64 KiB.
TEST(HeapRegion, AFewObjectsOfManyClassesLieOnNeighbouringPages) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (size_t size : {16, 48, 100, 200, 400, 900, 1800, 3000}) {
    const auto p = reinterpret_cast<uintptr_t>(r.allocate(size, 16, 1));
    ASSERT_NE(p, 0u);
    lo = std::min(lo, p);
    hi = std::max(hi, p + size);
  }
  EXPECT_LE(hi - lo, size_t{8} * 4096);
}

TEST(HeapRegion, DoubleFreeDoesNotCorruptFreeLists) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  void* p = r.allocate(40, 16, 0);
  r.release(p);
  r.release(p);  // ignored
  EXPECT_EQ(r.stats().live_objects, 0u);
  void* a = r.allocate(40, 16, 0);
  void* b = r.allocate(40, 16, 0);
  EXPECT_NE(a, b);
}

TEST(HeapRegion, EveryAlignmentHonoured) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  for (size_t align = 1; align <= HeapRegion::kMaxAlignment; align *= 2) {
    for (size_t size : {size_t{0}, size_t{1}, size_t{24}, size_t{5000}, size_t{300000}}) {
      void* p = r.allocate(size, align, 3);
      ASSERT_NE(p, nullptr) << align << " " << size;
      size_t want = align < 16 ? 16 : align;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % want, 0u) << align;
      HeapRegion::ObjectInfo info = r.info(p);
      ASSERT_TRUE(info.valid);
      EXPECT_GE(info.usable, size);
      memset(p, 0x5a, info.usable);  // every usable byte is writable
      r.release(p);
    }
  }
  EXPECT_EQ(r.allocate(10, HeapRegion::kMaxAlignment * 2, 0), nullptr);
  EXPECT_EQ(r.allocate(10, 48, 0), nullptr);  // not a power of two
  EXPECT_EQ(r.stats().live_objects, 0u);
}

TEST(HeapRegion, LargeObjectsAreSpansAndReuseAddressSpace) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  constexpr size_t kSize = 3 << 20;
  for (int i = 0; i < 2000; ++i) {  // 6 GB allocated in total through a 1 GiB region
    void* p = r.allocate(kSize, 16, 0);
    ASSERT_NE(p, nullptr) << i;
    static_cast<char*>(p)[kSize - 1] = 1;
    r.release(p);
  }
  EXPECT_LT(r.stats().committed, size_t{8} << 20);
}

TEST(HeapRegion, FullRegionReturnsNull) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  EXPECT_EQ(r.allocate(kGiB / 4, 16, 0), nullptr);  // over the largest block
  std::vector<void*> got;
  for (int i = 0; i < 64; ++i) {
    void* p = r.allocate(100 << 20, 16, 0);
    if (p == nullptr) break;
    got.push_back(p);
  }
  EXPECT_GE(got.size(), 5u);
  EXPECT_LT(got.size(), 11u);
  for (void* p : got) r.release(p);
}

// Under `ulimit -v` the reservation is the program's address space too: at most 1/64 of
// the limit (it took the largest power of two that fit, half the budget or more, before).
TEST(HeapRegion, UnderAnAddressSpaceLimitReservesAtMostASixtyFourth) {
  testing::ChildResult child = testing::run_in_child([]() -> std::string {
    // 4 GiB more than this process maps now (earlier tests' regions included).
    size_t pages = 0;
    if (FILE* statm = fopen("/proc/self/statm", "r")) {
      if (fscanf(statm, "%zu", &pages) != 1) pages = 0;
      fclose(statm);
    }
    const size_t cap = pages * 4096 + (size_t{4} << 30);
    rlimit limit{cap, RLIM_INFINITY};
    if (setrlimit(RLIMIT_AS, &limit) != 0) return "setrlimit failed";
    HeapRegion r;
    if (!r.reserve(size_t{256} << 30)) return "no reservation";
    if (r.reserved_bytes() > cap / 64)
      return "reserved " + std::to_string(r.reserved_bytes() >> 20) + " MiB";
    if (r.reserved_bytes() < cap / 128) return "reserved too little";
    void* p = r.allocate(1 << 20, 16, 0);  // sampled objects still fit
    if (p == nullptr) return "no room for 1 MiB";
    r.release(p);
    return "";
  });
  EXPECT_TRUE(child.passed()) << child.message;
}

// True if [p, p + bytes) is mapped (msync fails with ENOMEM on an unmapped page).
bool mapped(uintptr_t p, size_t bytes) {
  return msync(reinterpret_cast<void*>(p & ~uintptr_t{4095}), bytes, MS_ASYNC) == 0;
}

// A program that sets its RLIMIT_AS below what it has mapped while it runs
// (address_limit_hooks.cc): the region shrinks to 1/64 of the new limit, its unused tail
// unmapped, never below what it handed out, and never grows back. Objects keep their places
// and are freed as before.
TEST(HeapRegion, ALoweredAddressLimitCutsTheUnusedTailOnly) {
  constexpr uint64_t kMapped = uint64_t{1} << 50;  // a limit under this was set without it
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  const uintptr_t base = reinterpret_cast<uintptr_t>(r.allocate(64, 16, 1)) & ~uintptr_t{4095};
  void* big = r.allocate(size_t{20} << 20, 16, 2);  // a span: the bump passes 20 MiB
  ASSERT_NE(big, nullptr);
  void* small = r.allocate(100, 16, 3);
  ASSERT_NE(small, nullptr);

  EXPECT_EQ(r.fit_under_address_limit(size_t{64} * 64 << 20, kMapped), size_t{64} << 20);
  EXPECT_EQ(r.reserved_bytes(), size_t{64} << 20);
  EXPECT_TRUE(mapped(base, size_t{64} << 20));
  EXPECT_FALSE(mapped(base + (size_t{64} << 20), 4096));  // the tail is given back
  EXPECT_FALSE(r.contains(reinterpret_cast<void*>(base + (size_t{64} << 20))));

  // 1 GiB would allow 16 MiB: the 20 MiB object and what follows it stay.
  const size_t kept = r.fit_under_address_limit(kGiB, kMapped);
  EXPECT_GT(kept, size_t{20} << 20);
  EXPECT_LT(kept, size_t{64} << 20);
  EXPECT_TRUE(r.contains(big));
  EXPECT_TRUE(r.info(big).valid);
  EXPECT_EQ(r.info(small).tag, 3u);
  EXPECT_EQ(r.allocate(size_t{64} << 20, 16, 4), nullptr);  // no room past the new end
  EXPECT_EQ(r.allocate(kept / 8 + 1, 16, 4), nullptr);  // the largest block shrank with it
  r.release(big);
  EXPECT_FALSE(r.info(big).valid);
  r.release(small);
  EXPECT_EQ(r.allocate(100, 16, 5), small);  // blocks are reused as before

  EXPECT_EQ(r.fit_under_address_limit(size_t{1} << 49, kMapped), kept);  // higher: no growth
  EXPECT_EQ(r.reserved_bytes(), kept);
}

// A limit at or above what is mapped (`current + X`, the reservation counted in): the
// reservation stays mapped, so the program keeps the room it computed, and only its usable
// part shrinks, to a 64th of the limit less the reservation.
TEST(HeapRegion, ALimitAboveWhatIsMappedKeepsTheReservationMappedAndUsesLessOfIt) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  const uintptr_t base = reinterpret_cast<uintptr_t>(r.allocate(64, 16, 1)) & ~uintptr_t{4095};
  const uint64_t vm_size = kGiB + (size_t{100} << 20);
  EXPECT_EQ(r.fit_under_address_limit(kGiB + (size_t{640} << 20), vm_size), size_t{10} << 20);
  EXPECT_TRUE(mapped(base, kGiB));  // nothing given back
  EXPECT_FALSE(r.contains(reinterpret_cast<void*>(base + (size_t{10} << 20))));
  EXPECT_EQ(r.allocate(size_t{2} << 20, 16, 2), nullptr);  // past the new largest block
  EXPECT_NE(r.allocate(size_t{1} << 20, 16, 3), nullptr);
}

// Shrinking while other threads allocate and free: every object stays inside the region and
// valid, and none is placed past its end.
TEST(HeapRegion, ALoweredAddressLimitWhileThreadsAllocateKeepsEveryObject) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0}, started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<void*> live;
      started.fetch_add(1);
      for (int i = 0; !stop.load() || i < 1000; ++i) {
        void* p = r.allocate(static_cast<size_t>(16 + (i * 37 + t) % 5000), 16, 7);
        if (p != nullptr) {
          if (!r.contains(p) || !r.info(p).valid) errors.fetch_add(1);
          memset(p, 0xab, 16);
          live.push_back(p);
        }
        if (live.size() > 200) {
          for (void* q : live) {
            if (!r.info(q).valid) errors.fetch_add(1);
            r.release(q);
          }
          live.clear();
        }
      }
      for (void* q : live) r.release(q);
    });
  }
  while (started.load() < 4) std::this_thread::yield();
  for (uint64_t limit = size_t{64} << 30; limit >= (size_t{1} << 30); limit /= 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    r.fit_under_address_limit(limit, uint64_t{1} << 50);
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LT(r.reserved_bytes(), kGiB);  // cut (to 16 MiB, or what the threads held then)
  EXPECT_GE(r.reserved_bytes(), size_t{16} << 20);
  EXPECT_EQ(r.stats().live_objects, 0u);
}

TEST(HeapRegion, ConcurrentUseKeepsObjectsDisjoint) {
  HeapRegion r;
  ASSERT_TRUE(r.reserve(kGiB));
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<unsigned char*, size_t>> live;
      unsigned seed = static_cast<unsigned>(t) * 7919u + 1;
      for (int i = 0; i < 20000; ++i) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 1 + (seed >> 8) % 3000;
        auto* p = static_cast<unsigned char*>(r.allocate(size, 16, static_cast<uint32_t>(t)));
        if (p == nullptr) {
          ++errors;
          continue;
        }
        memset(p, t + 1, size);
        live.emplace_back(p, size);
        if (live.size() > 64) {
          auto [q, n] = live[seed % live.size()];
          for (size_t k = 0; k < n; ++k)
            if (q[k] != t + 1) {
              ++errors;
              break;
            }
          if (r.info(q).tag != static_cast<uint32_t>(t)) ++errors;
          r.release(q);
          live[seed % live.size()] = live.back();
          live.pop_back();
        }
      }
      for (auto [q, n] : live) r.release(q);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(r.stats().live_objects, 0u);
  EXPECT_EQ(r.stats().live_bytes, 0u);
}

}  // namespace
}  // namespace profagent
