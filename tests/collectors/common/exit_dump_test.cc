// What the final dump leaves out (left_out_of_dump in collectors/common/collector.h, and the
// threads collector's single-thread rule): a short process writes no empty profile at exit,
// while every dump asked for writes every kind.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

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
#include "tests/common/glibc_allocator.h"
#include "tests/common/run_in_child.h"

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
  testing::ChildResult result = testing::run_in_child([]() -> std::string {
    ThreadsCollector threads;
    Config config;
    config.kind_values["threads"] = 1;
    if (!threads.start(config)) return "the threads collector did not start";
    if (threads.snapshot(final_request(gettid())).has_value()) return "exit(): written";
    if (!threads.snapshot(final_request(0)).has_value()) return "signal: left out";
    if (!threads.snapshot(DumpRequest{}).has_value()) return "asked for: left out";
    std::promise<void> done;
    std::thread other([&] { done.get_future().wait(); });
    std::optional<ProfileBuilder> two = threads.snapshot(final_request(gettid()));
    done.set_value();
    other.join();
    if (!two.has_value() || two->sample_count() != 2) return "two threads not written";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

// The exit dump's look ahead (Collector::nothing_to_write_at_exit): when every collector
// says "nothing", the agent builds no profile at all. It must never say so of a profile that
// would be written. In a fork child: one thread, and a CPU collector of its own.
TEST(ExitDump, CollectorsSayWithoutASnapshotWhenTheExitDumpHasNothing) {
  testing::ChildResult result = testing::run_in_child([]() -> std::string {
    reset_thread_registry();  // as the agent's fork handler does: only this thread now
    ThreadsCollector threads;
    Config config;
    config.kind_values["threads"] = 1;
    config.kind_values["cpu"] = 1000;
    if (!threads.start(config)) return "threads start";
    if (!threads.nothing_to_write_at_exit(final_request(gettid())))
      return "threads: a single thread is not nothing";
    if (threads.nothing_to_write_at_exit(final_request(0)))
      return "threads: a termination signal's dump is nothing";
    note_program_thread_created();  // what the pthread_create interposer does
    if (threads.nothing_to_write_at_exit(final_request(gettid())))
      return "threads: a second thread is nothing";

    unwind_tables_refresh();  // the agent's dump thread does this after start
    CpuCollector cpu;
    // No sample before the first look: SIGPROF waits meanwhile (the raw system call, past
    // any mask hook): 1 ms of CPU in start() could land one (it did in one full test run).
    sigset_t prof, old;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &prof, &old, sizeof(uint64_t));
    const bool started = cpu.start(config);
    const bool cpu_nothing = started && cpu.nothing_to_write_at_exit(final_request(gettid()));
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, sizeof(uint64_t));
    if (!started) return "cpu start";
    if (!cpu_nothing) return "cpu: no sample is not nothing";
    cpu.finish_start();
    int64_t until = clock_nanos(CLOCK_THREAD_CPUTIME_ID) + 50 * 1000000LL;  // 50 samples
    volatile uint64_t spin = 0;
    while (clock_nanos(CLOCK_THREAD_CPUTIME_ID) < until) spin = spin + 1;
    if (cpu.nothing_to_write_at_exit(final_request(gettid())))
      return "cpu: samples taken but nothing";
    std::optional<ProfileBuilder> profile = cpu.snapshot(final_request(gettid()));
    cpu.stop();
    if (!profile.has_value() || profile->sample_count() == 0) return "cpu: no samples";

    HeapCollector heap;
    config.kind_values["heap"] = int64_t{1} << 40;  // the interposed malloc samples nothing
    if (!heap.start(config)) return "heap start";
    if (!heap.nothing_to_write_at_exit(final_request(gettid())))
      return "heap: nothing sampled is not nothing";
    void* sampled = heap_sampled_malloc(testing::glibc_allocator(), g_heap_recorder, 100);
    bool nothing = heap.nothing_to_write_at_exit(final_request(gettid()));
    heap.stop();
    if (sampled == nullptr) return "heap: the sampled malloc failed";
    if (nothing) return "heap: an allocation sampled but nothing";
    return "";
  });
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

}  // namespace
}  // namespace profagent
