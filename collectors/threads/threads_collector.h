// Threads profile (kind "threads", PROFAGENT_THREADS, docs/pprof-semantics.md §4): at each dump,
// the current stack of every live program thread (the native goroutine view: a hung server
// sent the dump signal shows where every thread waits). Sample type threads/count, period
// type threads/count, period 1; one sample per thread with tid, thread_name and state
// ("running" or "blocked") labels, and for a thread blocked in a system call a `syscall`
// label with the call's name. Agent threads are left out.
//
// A blocked thread is walked from /proc without any signal, so no wait of the program returns
// early (thread_snapshot_blocked.h); one whose wait kept changing under every walk gets the
// synthetic frame "[profagent: lost]". Only running threads are asked, through a one-shot
// timer on their CPU clock (thread_snapshot.h); one that does not answer within
// kAnswerTimeoutNanos (it blocks SIGPROF while running, or is stopped) gets
// "[profagent: thread did not answer]", so the count stays right. A comment line in the
// profile gives the counts of each. Normal context; on_fork_child is async-signal-safe.
#pragma once

#include "collectors/common/collector.h"
#include "collectors/threads/threads_kind.h"

namespace profagent {

class ThreadsCollector final : public Collector {
 public:
  static constexpr int64_t kAnswerTimeoutNanos = 250 * 1000 * 1000;

  const ProfileKind& descriptor() const override { return kThreadsKind; }
  bool start(const Config& config) override;
  void stop() override;
  void on_fork_child() noexcept override;
  bool nothing_to_write_at_exit(const DumpRequest& request) override;
  bool gathered_nothing() noexcept override;
  std::optional<ProfileBuilder> snapshot(const DumpRequest& request) override;

 private:
  bool running_ = false;
};

}  // namespace profagent
