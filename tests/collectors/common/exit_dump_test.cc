// What the final dump leaves out (left_out_of_dump in collectors/common/collector.h, and the
// threads collector's single-thread rule): a short process writes no empty profile at exit,
// while every dump asked for writes every kind.
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "agent/core/clock.h"
#include "agent/core/config.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwinder.h"
#include "collectors/common/collector.h"
#include "collectors/cpu/cpu_collector.h"
#include "collectors/heap/heap_alloc.h"
#include "collectors/heap/heap_collector.h"
#include "collectors/heap/heap_recorder.h"
#include "collectors/threads/threads_collector.h"
#include "collectors/threads/threads_kind.h"

namespace profagent {
namespace {

DumpRequest final_request(pid_t exiting_tid) {
  DumpRequest r;
  r.final = true;
  r.exiting_tid = exiting_tid;
  return r;
}

TEST(ExitDump, OnlyTheFinalDumpLeavesOutAnEmptyProfile) {
  ProfileBuilder empty(shape_of(kThreadsKind, 1));
  EXPECT_TRUE(left_out_of_dump(final_request(0), empty, 0));  // a termination signal's too
  EXPECT_TRUE(left_out_of_dump(final_request(gettid()), empty, 0));
  EXPECT_FALSE(left_out_of_dump(DumpRequest{}, empty, 0));  // signal, interval: always written

  ProfileBuilder one(shape_of(kThreadsKind, 1));
  const int64_t v[1] = {1};
  const uint64_t stack[1] = {0x1234};
  one.add_sample(stack, v);
  EXPECT_FALSE(left_out_of_dump(final_request(0), one, 0));

  // Samples known lost are data: counted by the agent (the dump adds their sample after
  // this decision) or already in the profile.
  EXPECT_FALSE(left_out_of_dump(final_request(gettid()), empty, 3));
  ProfileBuilder lost(shape_of(kThreadsKind, 1));
  lost.add_synthetic_sample("[profagent: lost]", v);
  EXPECT_FALSE(left_out_of_dump(final_request(gettid()), lost, 0));
}

// In a fork child (one thread, whatever the test binary runs meanwhile): the exit dump of a
// single-threaded process has no threads profile, one taken on a termination signal has.
TEST(ExitDump, ThreadsProfileAtExitNeedsAThreadBesidesTheExitingOne) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ThreadsCollector threads;
    Config config;
    config.kind_values["threads"] = 1;
    if (!threads.start(config)) _exit(3);
    int bad = 0;
    if (threads.snapshot(final_request(gettid())).has_value()) bad |= 4;  // exit(): left out
    if (!threads.snapshot(final_request(0)).has_value()) bad |= 8;        // signal: written
    if (!threads.snapshot(DumpRequest{}).has_value()) bad |= 16;          // asked for
    std::promise<void> done;
    std::thread other([&] { done.get_future().wait(); });
    std::optional<ProfileBuilder> two = threads.snapshot(final_request(gettid()));
    if (!two.has_value() || two->sample_count() != 2) bad |= 32;  // a thread still running
    done.set_value();
    other.join();
    _exit(bad);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "bits: 3 start failed, 4 exit() written, 8 signal left "
                                       "out, 16 asked-for left out, 32 two threads not written";
}

// The exit dump's look ahead (Collector::nothing_to_write_at_exit): when every collector
// says "nothing", the agent builds no profile at all. It must never say so of a profile that
// would be written. In a fork child: one thread, and a CPU collector of its own.
TEST(ExitDump, CollectorsSayWithoutASnapshotWhenTheExitDumpHasNothing) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(20);
    // Ends the child with the number of the first check that failed (0: none).
    auto check = [](bool ok, int code) {
      if (!ok) _exit(code);
    };
    reset_thread_registry();  // as the agent's fork handler does: only this thread now
    ThreadsCollector threads;
    Config config;
    config.kind_values["threads"] = 1;
    config.kind_values["cpu"] = 1000;
    check(threads.start(config), 1);
    check(threads.nothing_to_write_at_exit(final_request(gettid())), 2);
    check(!threads.nothing_to_write_at_exit(final_request(0)), 3);  // termination signal
    note_program_thread_created();  // what the pthread_create interposer does
    check(!threads.nothing_to_write_at_exit(final_request(gettid())), 4);

    unwind_tables_refresh();  // the agent's dump thread does this after start
    CpuCollector cpu;
    check(cpu.start(config), 5);
    cpu.finish_start();
    check(cpu.nothing_to_write_at_exit(final_request(gettid())), 6);
    int64_t until = clock_nanos(CLOCK_THREAD_CPUTIME_ID) + 50 * 1000000LL;  // 50 samples
    volatile uint64_t spin = 0;
    while (clock_nanos(CLOCK_THREAD_CPUTIME_ID) < until) spin = spin + 1;
    check(!cpu.nothing_to_write_at_exit(final_request(gettid())), 7);
    std::optional<ProfileBuilder> profile = cpu.snapshot(final_request(gettid()));
    check(profile.has_value() && profile->sample_count() > 0, 8);
    cpu.stop();

    HeapCollector heap;
    config.kind_values["heap"] = int64_t{1} << 40;  // the interposed malloc samples nothing
    check(heap.start(config), 9);
    check(heap.nothing_to_write_at_exit(final_request(gettid())), 10);
    NextAllocator next{&::malloc,        &::free,    &::calloc, &::realloc, &::posix_memalign,
                       &::aligned_alloc, &::memalign, &::valloc, &::pvalloc, &::malloc_usable_size};
    check(heap_sampled_malloc(next, g_heap_recorder, 100) != nullptr, 11);  // a sample's path
    check(!heap.nothing_to_write_at_exit(final_request(gettid())), 12);
    heap.stop();
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "failed check: 1 threads start, 2 single thread not nothing, 3 termination signal "
         "nothing, 4 a second thread nothing, 5 cpu start, 6 cpu: no sample not nothing, "
         "7 cpu: samples taken but nothing, 8 cpu: no samples in the profile, 9 heap start, "
         "10 heap: nothing sampled not nothing, 11 heap: sampled malloc failed, 12 heap: an "
         "allocation sampled but nothing";
}

}  // namespace
}  // namespace profagent
