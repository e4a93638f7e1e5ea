// The wall-clock sampler's per-tick logic (see wall_sampler.h). Normal context.
#include "collectors/wall/wall_sampler.h"

namespace profagent {

void WallSampler::emit(ThreadState& t, pid_t tid, WallState state, long nr, const uintptr_t* pcs,
                       int depth, int64_t now_mono,
                       const std::function<void(const WallSample&)>& sink) {
  WallSample s;
  s.tid = tid;
  s.state = state;
  s.syscall_nr = nr;
  s.pcs = pcs;
  s.depth = depth;
  s.start_mono = t.last_mono;
  s.end_mono = now_mono;
  t.last_mono = now_mono;
  sink(s);
}

bool WallSampler::sample_blocked(pid_t tid, ThreadState& t, WallProbe& probe, int64_t now_mono,
                                 WallTickCounts& counts,
                                 const std::function<void(const WallSample&)>& sink) {
  uintptr_t pcs[kMaxFrames];
  BlockedCapture c = probe.capture_blocked(tid, pcs, kMaxFrames);
  counts.walks += static_cast<uint64_t>(c.attempts);
  switch (c.outcome) {
    case BlockedCapture::Outcome::kCaptured: {
      if (probe.stopped_in_agent(pcs, c.depth)) {
        // Stopped in the agent's own code, e.g. in a SIGPROF handler whose page fault on a
        // table page had to wait in the kernel: the agent took that time from the thread, so
        // it is the agent's ("[profagent]"), and nothing is cached.
        t.cached = false;
        emit(t, tid, WallState::kAgent, -1, nullptr, 0, now_mono, sink);
        return true;
      }
      t.cached = true;
      t.wait = c.syscall;
      t.stack.assign(pcs, pcs + c.depth);
      long nr = c.syscall.kind == ThreadSyscall::Kind::kInSyscall ? c.syscall.nr : -1;
      emit(t, tid, WallState::kBlocked, nr, t.stack.data(), c.depth, now_mono, sink);
      return true;
    }
    case BlockedCapture::Outcome::kRunning:
      t.cached = false;
      return false;
    case BlockedCapture::Outcome::kGone:
      return true;  // exited: its last interval is not counted (it did not live through it)
    case BlockedCapture::Outcome::kLost:
      t.cached = false;
      ++counts.lost;
      emit(t, tid, WallState::kLost, -1, nullptr, 0, now_mono, sink);
      return true;
  }
  return true;
}

bool WallSampler::harvest(pid_t tid, ThreadState& t, WallProbe& probe, int64_t now_mono,
                          WallTickCounts& counts,
                          const std::function<void(const WallSample&)>& sink) {
  uintptr_t pcs[kMaxFrames];
  int depth = probe.poll_answer(t.ticket, pcs, kMaxFrames);
  if (depth == WallProbe::kPending) return false;  // the caller decides (see tick)
  t.ticket = -1;
  t.cached = false;  // it answered, so it ran: whatever was cached is stale
  if (depth == WallProbe::kInAgent) {
    emit(t, tid, WallState::kAgent, -1, nullptr, 0, now_mono, sink);
  } else if (depth < 0) {
    ++counts.lost;
    emit(t, tid, WallState::kLost, -1, nullptr, 0, now_mono, sink);
  } else {
    emit(t, tid, WallState::kRunning, -1, pcs, depth, now_mono, sink);
  }
  return true;
}

bool WallSampler::from_proc(pid_t tid, ThreadState& t, ProcRead r, const ThreadSyscall& wait,
                            WallProbe& probe, int64_t now_mono, WallTickCounts& counts,
                            const std::function<void(const WallSample&)>& sink) {
  if (r != ProcRead::kOk) {
    ++counts.lost;
    emit(t, tid, WallState::kLost, -1, nullptr, 0, now_mono, sink);
    return false;
  }
  if (wait.kind == ThreadSyscall::Kind::kRunning) return true;
  if (t.cached && t.wait.same_wait(wait)) {
    // Same call, arguments, SP and PC as at its last walk: still in that wait.
    ++counts.reused;
    long nr = wait.kind == ThreadSyscall::Kind::kInSyscall ? wait.nr : -1;
    emit(t, tid, WallState::kBlocked, nr, t.stack.data(), static_cast<int>(t.stack.size()),
         now_mono, sink);
    return false;
  }
  return !sample_blocked(tid, t, probe, now_mono, counts, sink);
}

void WallSampler::abandon_all(WallProbe& probe) {
  for (auto& [tid, t] : threads_)
    if (t.ticket >= 0) {
      probe.abandon(t.ticket);
      t.ticket = -1;
    }
}

WallTickCounts WallSampler::tick(int64_t now_mono, int64_t interval_nanos, WallProbe& probe,
                                 const std::function<void(const WallSample&)>& sink) {
  WallTickCounts counts;
  ++tick_number_;
  std::vector<pid_t> candidates;  // seen running once
  for (pid_t tid : probe.threads()) {
    ++counts.threads;
    auto [it, fresh] = threads_.try_emplace(tid);
    ThreadState& t = it->second;
    if (fresh) t.last_mono = now_mono - interval_nanos;
    t.seen = tick_number_;
    if (t.ticket >= 0 && harvest(tid, t, probe, now_mono, counts, sink)) continue;
    ThreadSyscall wait;
    ProcRead r = probe.read_syscall(tid, &wait);
    if (r == ProcRead::kGone) continue;
    if (t.ticket >= 0) {
      // Asked, not answered yet. Still running (waiting for a CPU): keep waiting, up to
      // kMaxPendingNanos. Gone to sleep before it ran again (its timer cannot fire): take
      // the request back and sample it like any blocked thread.
      if (r == ProcRead::kOk && wait.kind == ThreadSyscall::Kind::kRunning) {
        if (now_mono - t.asked_mono >= kMaxPendingNanos) {
          probe.abandon(t.ticket);
          t.ticket = -1;
          ++counts.lost;
          emit(t, tid, WallState::kLost, -1, nullptr, 0, now_mono, sink);
        }
        continue;
      }
      probe.abandon(t.ticket);
      t.ticket = -1;
      // A last answer may have come between the poll and the abandon: it is dropped, and
      // the thread is sampled from /proc below instead.
    }
    if (from_proc(tid, t, r, wait, probe, now_mono, counts, sink)) candidates.push_back(tid);
  }

  // Running threads: re-read after a pause; only those still running are signalled.
  std::vector<pid_t> ask;
  if (!candidates.empty()) {
    probe.pause_nanos(kRunningRecheckNanos);
    for (pid_t tid : candidates) {
      ThreadState& t = threads_[tid];
      ThreadSyscall wait;
      ProcRead r = probe.read_syscall(tid, &wait);
      if (r == ProcRead::kGone) continue;
      if (from_proc(tid, t, r, wait, probe, now_mono, counts, sink)) ask.push_back(tid);
    }
  }
  if (!ask.empty()) {
    std::vector<int> tickets;
    std::vector<pid_t> asked;
    for (pid_t tid : ask) {
      int ticket = probe.ask_running(tid);
      if (ticket == WallProbe::kGone) continue;  // exited
      ++counts.signalled;
      ThreadState& t = threads_[tid];
      if (ticket < 0) {
        ++counts.lost;
        emit(t, tid, WallState::kLost, -1, nullptr, 0, now_mono, sink);
        continue;
      }
      t.ticket = ticket;
      t.asked_mono = now_mono;
      tickets.push_back(ticket);
      asked.push_back(tid);
    }
    if (!tickets.empty()) probe.wait_answers(tickets);
    // Answered threads are sampled now; the others when they answer (a later tick).
    for (pid_t tid : asked) harvest(tid, threads_[tid], probe, now_mono, counts, sink);
  }

  // Threads that were not listed this time have exited.
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->second.seen == tick_number_) {
      ++it;
      continue;
    }
    if (it->second.ticket >= 0) probe.abandon(it->second.ticket);
    it = threads_.erase(it);
  }
  return counts;
}

}  // namespace profagent
