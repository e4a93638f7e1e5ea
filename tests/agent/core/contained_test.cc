// run_contained(): what the work throws is dropped with one warning per place, the work's
// cancellation is held off and the thread's state restored; for_each_loaded_object(): a
// callback's exception stops the iteration and is thrown again past dl_iterate_phdr.
#include "agent/core/contained.h"

#include <gtest/gtest.h>
#include <link.h>
#include <pthread.h>
#include <unistd.h>

#include <new>
#include <stdexcept>
#include <string>

#include "tests/common/stderr_in_child.h"

namespace {

using profagent::LogLevel;
using profagent::run_contained;
using profagent::testing::stderr_in_child;

TEST(RunContained, RunsTheWorkAndSaysItRan) {
  int ran = 0;
  EXPECT_TRUE(run_contained("counting", [&ran] { ++ran; }));
  EXPECT_EQ(ran, 1);
}

TEST(RunContained, OutOfMemoryEndsTheWorkWithOneWarningPerPlace) {
  std::string out = stderr_in_child(LogLevel::kWarn, []() -> std::string {
    int failed = 0;
    for (int i = 0; i < 3; ++i)  // one place, three failures: one warning
      if (!run_contained("writing the profiles; this dump is lost",
                         [] { throw std::bad_alloc(); }))
        ++failed;
    if (!run_contained("draining the samples", [] { throw std::bad_alloc(); })) ++failed;
    return failed == 4 ? "" : "a failure was not reported: " + std::to_string(failed);
  });
  EXPECT_EQ(out,
            "profagent: warning: out of memory while writing the profiles; this dump is lost "
            "(the program runs on)\n"
            "profagent: warning: out of memory while draining the samples (the program runs on)\n");
}

TEST(RunContained, NamesAnyOtherException) {
  std::string out = stderr_in_child(LogLevel::kWarn, []() -> std::string {
    run_contained("reading the maps", [] { throw std::runtime_error("bad line 3"); });
    run_contained("reading the maps again", [] { throw 42; });
    return "";
  });
  EXPECT_EQ(out,
            "profagent: warning: bad line 3 while reading the maps (the program runs on)\n"
            "profagent: warning: an unexpected error while reading the maps again (the program "
            "runs on)\n");
}

TEST(RunContained, SaysNothingWhenWarningsAreOff) {
  EXPECT_EQ(stderr_in_child(LogLevel::kOff, []() -> std::string {
              return run_contained("x", [] { throw std::bad_alloc(); }) ? "it said it ran" : "";
            }),
            "");
}

// A program thread with a cancellation pending that ends through the agent's exit dump: the
// dump's cancellation points (a write, a sleep) never act on it; the thread's own next
// cancellation point still does.
void* cancelled_thread(void* reached) {
  pthread_cancel(pthread_self());
  run_contained("writing the exit dump", [reached] {
    usleep(1000);  // a cancellation point
    *static_cast<bool*>(reached) = true;
  });
  pthread_testcancel();
  return nullptr;
}

TEST(RunContained, HoldsCancellationOffAndThenRestoresIt) {
  bool reached = false;
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, nullptr, cancelled_thread, &reached), 0);
  void* result = nullptr;
  ASSERT_EQ(pthread_join(t, &result), 0);
  EXPECT_TRUE(reached);                    // the work ran to its end
  EXPECT_EQ(result, PTHREAD_CANCELED);  // then the thread was cancelled, as it asked
  int state = -1;
  run_contained("a look", [&state] { pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state); });
  EXPECT_EQ(state, PTHREAD_CANCEL_DISABLE);  // (inside: off)
  pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state);
  EXPECT_EQ(state, PTHREAD_CANCEL_ENABLE);  // after: as before
}

int count_objects() {
  int n = 0;
  dl_iterate_phdr([](dl_phdr_info*, size_t, void* count) { return ++*static_cast<int*>(count), 0; },
                  &n);
  return n;
}

TEST(ForEachLoadedObject, VisitsWhatDlIteratePhdrVisits) {
  int seen = 0;
  profagent::for_each_loaded_object([&seen](dl_phdr_info* info, size_t size) {
    EXPECT_NE(info->dlpi_phdr, nullptr);
    EXPECT_GT(size, 0u);
    ++seen;
    return 0;
  });
  EXPECT_EQ(seen, count_objects());
  EXPECT_GT(seen, 2);
}

TEST(ForEachLoadedObject, ACallbacksExceptionStopsAndIsThrownPastTheLoader) {
  int calls = 0;
  EXPECT_THROW(profagent::for_each_loaded_object([&calls](dl_phdr_info*, size_t) -> int {
                 if (++calls == 2) throw std::bad_alloc();
                 return 0;
               }),
               std::bad_alloc);
  EXPECT_EQ(calls, 2);
  // The loader's lock was let go: another iteration runs.
  EXPECT_GT(count_objects(), 2);
}

}  // namespace
