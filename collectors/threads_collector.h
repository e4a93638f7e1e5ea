// Threads profile (kind "threads", PROFAGENT_THREADS, docs/pprof-semantics.md §4): at each dump,
// the current stack of every live program thread (the native goroutine view: a hung server
// sent the dump signal shows where every thread waits). Sample type threads/count, period
// type threads/count, period 1; one sample per thread with tid and thread_name labels.
// Agent threads are left out. A thread that does not answer within kAnswerTimeoutNanos (it
// has SIGPROF blocked, or is stopped) is shown with one synthetic frame
// "[profagent: thread did not answer]" so the count stays right.
//
// Side effect to document: the snapshot signal interrupts blocking calls that SA_RESTART
// cannot restart (poll, epoll_wait, select, nanosleep/clock_nanosleep, usleep, sleep,
// sigtimedwait, io_getevents, semop...; pitfalls.md "Signals"): they return early with EINTR
// (sleep returns the time left). Programs that handle EINTR, as they must for any signal,
// are unaffected. Normal context; on_fork_child is async-signal-safe.
#pragma once

#include "agent/collector.h"
#include "collectors/threads_kind.h"

namespace profagent {

class ThreadsCollector final : public Collector {
 public:
  static constexpr int64_t kAnswerTimeoutNanos = 250 * 1000 * 1000;

  const ProfileKind& descriptor() const override { return kThreadsKind; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

 private:
  bool running_ = false;
};

}  // namespace profagent
