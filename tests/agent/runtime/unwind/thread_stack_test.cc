// The recorded stack bounds: the main thread's (derived without /proc/self/maps) match what
// glibc reads from the maps; another thread's are its pthread stack.
#include "agent/runtime/unwind/thread_stack.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <thread>

namespace profagent {
namespace {

void glibc_bounds(uintptr_t* lo, uintptr_t* hi) {
  pthread_attr_t attr;
  ASSERT_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
  void* addr = nullptr;
  size_t size = 0;
  ASSERT_EQ(pthread_attr_getstack(&attr, &addr, &size), 0);
  pthread_attr_destroy(&attr);
  *lo = reinterpret_cast<uintptr_t>(addr);
  *hi = *lo + size;
}

TEST(ThreadStack, MainThreadTopIsGlibcsWithoutReadingTheMaps) {
  note_current_thread_stack();  // gtest runs tests on the process's main thread
  uintptr_t lo = 0, hi = 0, glibc_lo = 0, glibc_hi = 0;
  ASSERT_TRUE(current_thread_stack(&lo, &hi));
  glibc_bounds(&glibc_lo, &glibc_hi);
  EXPECT_EQ(hi, glibc_hi);  // glibc's own top, to the byte
  uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  EXPECT_GE(sp, lo);
  EXPECT_LT(sp, hi);
  EXPECT_LE(hi - lo, uintptr_t{1} << 30);
}

TEST(ThreadStack, OtherThreadsUseTheirPthreadStack) {
  std::thread([] {
    note_current_thread_stack();
    uintptr_t lo = 0, hi = 0, glibc_lo = 0, glibc_hi = 0;
    ASSERT_TRUE(current_thread_stack(&lo, &hi));
    glibc_bounds(&glibc_lo, &glibc_hi);
    EXPECT_EQ(lo, glibc_lo);
    EXPECT_EQ(hi, glibc_hi);
  }).join();
}

}  // namespace
}  // namespace profagent
