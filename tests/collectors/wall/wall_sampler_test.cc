// The wall-clock sampler's pure logic: weighting by elapsed time, reuse of cached stacks,
// no signal to blocked threads, lost samples, rate lowering, windows and labels.
#include "collectors/wall/wall_sampler.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <algorithm>
#include <map>
#include <set>

#include "collectors/wall/wall_aggregate.h"
#include "collectors/wall/wall_rate.h"

namespace profagent {
namespace {

ThreadSyscall blocked_in(long nr, uintptr_t sp, uintptr_t pc, uint64_t arg0 = 3) {
  ThreadSyscall w;
  w.kind = ThreadSyscall::Kind::kInSyscall;
  w.nr = nr;
  w.args[0] = arg0;
  w.sp = sp;
  w.pc = pc;
  return w;
}

ThreadSyscall running() { return ThreadSyscall{}; }

// Threads whose /proc answers the test scripts; reads of one tid come from a queue (the last
// answer repeats).
class FakeProbe final : public WallProbe {
 public:
  std::vector<pid_t> tids;
  std::map<pid_t, std::vector<ThreadSyscall>> reads;  // per tid, consumed front to back
  std::map<pid_t, BlockedCapture::Outcome> capture_outcome;  // default: captured
  std::map<pid_t, std::vector<uintptr_t>> walked_stack;
  std::map<pid_t, int> signal_answer;  // depth answered; default: a 2-frame running stack
  std::vector<pid_t> captured, signalled;
  int pauses = 0;

  std::vector<pid_t> threads() override { return tids; }
  ProcRead read_syscall(pid_t tid, ThreadSyscall* out) override {
    auto& q = reads[tid];
    if (q.empty()) return ProcRead::kGone;
    *out = q.front();
    if (q.size() > 1) q.erase(q.begin());
    return ProcRead::kOk;
  }
  BlockedCapture capture_blocked(pid_t tid, uintptr_t* pcs, int max_frames) override {
    captured.push_back(tid);
    BlockedCapture c;
    c.attempts = 1;
    auto it = capture_outcome.find(tid);
    c.outcome = it == capture_outcome.end() ? BlockedCapture::Outcome::kCaptured : it->second;
    if (c.outcome == BlockedCapture::Outcome::kCaptured) {
      ThreadSyscall w;
      read_syscall(tid, &w);
      c.syscall = w;
      std::vector<uintptr_t> s = walked_stack.count(tid) ? walked_stack[tid]
                                                         : std::vector<uintptr_t>{w.pc, 0x999};
      c.depth = static_cast<int>(s.size()) < max_frames ? static_cast<int>(s.size()) : max_frames;
      for (int i = 0; i < c.depth; ++i) pcs[i] = s[i];
    }
    return c;
  }
  std::set<uintptr_t> agent_code;  // innermost pcs the probe calls the agent's own code
  bool stopped_in_agent(const uintptr_t* pcs, int depth) override {
    return depth > 0 && agent_code.count(pcs[0]) != 0;
  }
  void pause_nanos(int64_t) override { ++pauses; }
  // Running threads: answer with a 2-frame stack unless signal_answer says otherwise
  // (a depth, kInAgent, kFailed), after `late_polls` polls still pending.
  std::map<pid_t, int> late_polls;
  std::map<int, pid_t> open;  // ticket -> tid
  std::vector<int> abandoned;
  int next_ticket = 0;
  int ask_running(pid_t tid) override {
    signalled.push_back(tid);
    open[next_ticket] = tid;
    return next_ticket++;
  }
  void wait_answers(const std::vector<int>&) override {}
  int poll_answer(int ticket, uintptr_t* pcs, int max_frames) override {
    pid_t tid = open.at(ticket);
    if (late_polls[tid] > 0) {
      --late_polls[tid];
      return kPending;
    }
    open.erase(ticket);
    int d = signal_answer.count(tid) ? signal_answer[tid] : 2;
    if (d > 0) {
      pcs[0] = 0x100;
      if (max_frames > 1) pcs[1] = 0x200;
    }
    return d;
  }
  void abandon(int ticket) override {
    abandoned.push_back(ticket);
    open.erase(ticket);
  }
};

struct Recorded {
  pid_t tid;
  WallState state;
  long nr;
  std::vector<uintptr_t> stack;
  int64_t weight;
};

struct Recorder {
  std::vector<Recorded> all;
  std::function<void(const WallSample&)> sink() {
    return [this](const WallSample& s) {
      all.push_back(Recorded{s.tid, s.state, s.syscall_nr,
                             std::vector<uintptr_t>(s.pcs, s.pcs + s.depth),
                             s.end_mono - s.start_mono});
    };
  }
};

constexpr int64_t kMs = 1000000;

TEST(WallSampler, WeightsEachSampleByTheRealTimeSinceThatThreadsPreviousSample) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {blocked_in(SYS_read, 0x7000, 0x40)};
  WallSampler sampler;
  Recorder rec;
  sampler.tick(100 * kMs, 10 * kMs, probe, rec.sink());  // first sample: one interval
  sampler.tick(110 * kMs, 10 * kMs, probe, rec.sink());
  sampler.tick(145 * kMs, 10 * kMs, probe, rec.sink());  // the sampler fell behind: 35 ms
  ASSERT_EQ(rec.all.size(), 3u);
  EXPECT_EQ(rec.all[0].weight, 10 * kMs);
  EXPECT_EQ(rec.all[1].weight, 10 * kMs);
  EXPECT_EQ(rec.all[2].weight, 35 * kMs);
  int64_t total = 0;
  for (auto& r : rec.all) total += r.weight;
  EXPECT_EQ(total, 145 * kMs - 90 * kMs);  // the time it was observed, exactly
}

TEST(WallSampler, UnchangedWaitReusesTheCachedStackWithoutAWalk) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {blocked_in(SYS_read, 0x7000, 0x40)};
  probe.walked_stack[10] = {0x40, 0x50, 0x60};
  WallSampler sampler;
  Recorder rec;
  WallTickCounts c1 = sampler.tick(1 * kMs, kMs, probe, rec.sink());
  WallTickCounts c2 = sampler.tick(2 * kMs, kMs, probe, rec.sink());
  WallTickCounts c3 = sampler.tick(3 * kMs, kMs, probe, rec.sink());
  EXPECT_EQ(probe.captured.size(), 1u);  // walked once
  EXPECT_EQ(c1.walks, 1u);
  EXPECT_EQ(c2.reused + c3.reused, 2u);
  ASSERT_EQ(rec.all.size(), 3u);
  for (auto& r : rec.all) {
    EXPECT_EQ(r.stack, (std::vector<uintptr_t>{0x40, 0x50, 0x60}));
    EXPECT_EQ(r.state, WallState::kBlocked);
    EXPECT_EQ(r.nr, SYS_read);
  }
}

TEST(WallSampler, ChangedWaitIsWalkedAgain) {
  FakeProbe probe;
  probe.tids = {10};
  // Same call, other argument (another descriptor): a new wait, walked again.
  probe.reads[10] = {blocked_in(SYS_read, 0x7000, 0x40, 3), blocked_in(SYS_read, 0x7000, 0x40, 3),
                     blocked_in(SYS_read, 0x7000, 0x40, 4)};
  WallSampler sampler;
  Recorder rec;
  sampler.tick(1 * kMs, kMs, probe, rec.sink());  // reads: tick + capture
  sampler.tick(2 * kMs, kMs, probe, rec.sink());
  EXPECT_EQ(probe.captured.size(), 2u);
}

TEST(WallSampler, AThreadThatRanIsWalkedAgainWhateverItAnswered) {
  for (int answer : {2, int{WallProbe::kInAgent}, int{WallProbe::kFailed}}) {
    SCOPED_TRACE(answer);
    FakeProbe probe;
    probe.tids = {10};
    // Blocked (walked), running (asked; it answers), then blocked again on the same line.
    const ThreadSyscall wait = blocked_in(SYS_read, 0x7000, 0x40);
    probe.reads[10] = {wait, wait, running(), running(), wait};
    probe.signal_answer[10] = answer;
    WallSampler sampler;
    Recorder rec;
    for (int tick = 1; tick <= 3; ++tick) sampler.tick(tick * kMs, kMs, probe, rec.sink());
    EXPECT_EQ(probe.signalled.size(), 1u);
    EXPECT_EQ(probe.captured.size(), 2u);  // its cached stack is not trusted after it ran
  }
}

TEST(WallSampler, ABlockedThreadIsNeverSignalledARunningOneIsAfterARecheck) {
  FakeProbe probe;
  probe.tids = {10, 11, 12};
  probe.reads[10] = {blocked_in(SYS_futex, 0x7000, 0x40)};
  probe.reads[11] = {running()};                                   // busy: running twice
  probe.reads[12] = {running(), blocked_in(SYS_nanosleep, 0x8000, 0x80)};  // between waits
  WallSampler sampler;
  Recorder rec;
  WallTickCounts c = sampler.tick(5 * kMs, 5 * kMs, probe, rec.sink());
  EXPECT_EQ(probe.signalled, std::vector<pid_t>{11});
  EXPECT_EQ(probe.pauses, 1);  // one pause for all running threads
  EXPECT_EQ(c.signalled, 1u);
  std::map<pid_t, Recorded> by_tid;
  for (auto& r : rec.all) by_tid[r.tid] = r;
  ASSERT_EQ(by_tid.size(), 3u);
  EXPECT_EQ(by_tid[10].state, WallState::kBlocked);
  EXPECT_EQ(by_tid[10].nr, SYS_futex);
  EXPECT_EQ(by_tid[11].state, WallState::kRunning);
  EXPECT_EQ(by_tid[11].nr, -1);
  EXPECT_EQ(by_tid[11].stack, (std::vector<uintptr_t>{0x100, 0x200}));
  EXPECT_EQ(by_tid[12].state, WallState::kBlocked);
  EXPECT_EQ(by_tid[12].nr, SYS_nanosleep);
}

TEST(WallSampler, AThreadChangingUnderEveryWalkIsCountedLostWithItsWeight) {
  FakeProbe probe;
  probe.tids = {10, 11};
  probe.reads[10] = {blocked_in(SYS_read, 0x7000, 0x40)};
  probe.reads[11] = {running()};
  probe.capture_outcome[10] = BlockedCapture::Outcome::kLost;
  probe.signal_answer[11] = WallProbe::kFailed;
  WallSampler sampler;
  Recorder rec;
  WallTickCounts c = sampler.tick(7 * kMs, 7 * kMs, probe, rec.sink());
  EXPECT_EQ(c.lost, 2u);
  ASSERT_EQ(rec.all.size(), 2u);
  for (auto& r : rec.all) {
    EXPECT_EQ(r.state, WallState::kLost);
    EXPECT_TRUE(r.stack.empty());
    EXPECT_EQ(r.weight, 7 * kMs);  // totals stay honest
  }
}

TEST(WallSampler, AThreadRunningTheAgentsOwnCodeIsChargedToTheAgent) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {running()};
  probe.signal_answer[10] = WallProbe::kInAgent;
  WallSampler sampler;
  Recorder rec;
  sampler.tick(4 * kMs, 4 * kMs, probe, rec.sink());
  ASSERT_EQ(rec.all.size(), 1u);
  EXPECT_EQ(rec.all[0].state, WallState::kAgent);
  EXPECT_EQ(rec.all[0].weight, 4 * kMs);
  WallWindow w(0, 0);
  WallSample s{10, WallState::kAgent, -1, nullptr, 0, 0, 4 * kMs};
  w.add(s);
  ASSERT_EQ(w.samples().size(), 1u);
  EXPECT_EQ(w.samples().begin()->first.state, WallState::kAgent);
}

TEST(WallSampler, AThreadBlockedInTheAgentsOwnCodeIsChargedToTheAgentAndWalkedAgain) {
  FakeProbe probe;
  probe.tids = {10, 11};
  // Thread 10 waits in a page fault inside the agent's signal handler (no system call), on
  // top of the program's frames; thread 11 waits in read() called from the program.
  ThreadSyscall fault;
  fault.kind = ThreadSyscall::Kind::kBlockedNoCall;
  fault.sp = 0x7000;
  fault.pc = 0xa9e;
  probe.reads[10] = {fault};
  probe.walked_stack[10] = {0xa9e, 0xa80, 0x500};
  probe.reads[11] = {blocked_in(SYS_read, 0x8000, 0x40)};
  probe.agent_code = {0xa9e, 0xa80};
  WallSampler sampler;
  Recorder rec;
  sampler.tick(5 * kMs, 5 * kMs, probe, rec.sink());
  ASSERT_EQ(rec.all.size(), 2u);
  EXPECT_EQ(rec.all[0].tid, 10);
  EXPECT_EQ(rec.all[0].state, WallState::kAgent);
  EXPECT_TRUE(rec.all[0].stack.empty());
  EXPECT_EQ(rec.all[0].weight, 5 * kMs);
  EXPECT_EQ(rec.all[1].state, WallState::kBlocked);  // a program's wait stays the program's
  // Still there at the next tick: walked again, not answered from a cache.
  sampler.tick(10 * kMs, 5 * kMs, probe, rec.sink());
  EXPECT_EQ(std::count(probe.captured.begin(), probe.captured.end(), 10), 2);
  EXPECT_EQ(std::count(probe.captured.begin(), probe.captured.end(), 11), 1);
  ASSERT_EQ(rec.all.size(), 4u);
  EXPECT_EQ(rec.all[2].state, WallState::kAgent);
}

TEST(WallSampler, ALateAnswerStandsForTheWholeTimeTheThreadWaitedForACpu) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {running()};
  probe.late_polls[10] = 2;  // answers during the third tick
  WallSampler sampler;
  Recorder rec;
  sampler.tick(10 * kMs, 10 * kMs, probe, rec.sink());  // asked, pending
  sampler.tick(20 * kMs, 10 * kMs, probe, rec.sink());  // still pending: not asked again
  EXPECT_TRUE(rec.all.empty());
  EXPECT_EQ(probe.signalled.size(), 1u);
  sampler.tick(30 * kMs, 10 * kMs, probe, rec.sink());
  ASSERT_EQ(rec.all.size(), 1u);
  EXPECT_EQ(rec.all[0].state, WallState::kRunning);
  EXPECT_EQ(rec.all[0].weight, 30 * kMs);  // from its previous sample (one interval before the first tick)
  sampler.tick(40 * kMs, 10 * kMs, probe, rec.sink());  // asked again, answers at once
  ASSERT_EQ(rec.all.size(), 2u);
  EXPECT_EQ(rec.all[1].weight, 10 * kMs);
}

TEST(WallSampler, AThreadAskedThatFellAsleepIsTakenBackAndWalked) {
  FakeProbe probe;
  probe.tids = {10};
  // Running at the first tick (asked, no answer: it blocked before its timer could fire),
  // blocked in read from the second on.
  probe.reads[10] = {running(), running(), blocked_in(SYS_read, 0x7000, 0x40)};
  probe.late_polls[10] = 1000;
  WallSampler sampler;
  Recorder rec;
  sampler.tick(10 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_TRUE(rec.all.empty());
  sampler.tick(20 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_EQ(probe.abandoned.size(), 1u);  // the request was taken back
  ASSERT_EQ(rec.all.size(), 1u);
  EXPECT_EQ(rec.all[0].state, WallState::kBlocked);
  EXPECT_EQ(rec.all[0].nr, SYS_read);
  EXPECT_EQ(rec.all[0].weight, 20 * kMs);
  EXPECT_EQ(probe.signalled.size(), 1u);
}

TEST(WallSampler, ARequestOpenTooLongIsGivenUpAndCountedLost) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {running()};
  probe.late_polls[10] = 1000;  // never answers (SIGPROF blocked)
  WallSampler sampler;
  Recorder rec;
  int64_t t = 0;
  for (; t <= WallSampler::kMaxPendingNanos + 20 * kMs; t += 10 * kMs)
    sampler.tick(t + 10 * kMs, 10 * kMs, probe, rec.sink());
  ASSERT_EQ(rec.all.size(), 1u);
  EXPECT_EQ(rec.all[0].state, WallState::kLost);
  EXPECT_GE(rec.all[0].weight, WallSampler::kMaxPendingNanos);
  EXPECT_EQ(probe.abandoned.size(), 1u);
  // An exiting thread's open request is given up too.
  probe.tids = {};
  sampler.tick(t + 20 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_EQ(probe.abandoned.size(), 2u);
}

TEST(WallSampler, ExitedThreadsAreForgottenAndNewOnesStartWithOneInterval) {
  FakeProbe probe;
  probe.tids = {10};
  probe.reads[10] = {blocked_in(SYS_read, 0x7000, 0x40)};
  WallSampler sampler;
  Recorder rec;
  sampler.tick(10 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_EQ(sampler.known_threads(), 1u);
  probe.tids = {20};
  probe.reads[20] = {blocked_in(SYS_poll, 0x7000, 0x40)};
  sampler.tick(20 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_EQ(sampler.known_threads(), 1u);
  ASSERT_EQ(rec.all.size(), 2u);
  EXPECT_EQ(rec.all[1].tid, 20);
  EXPECT_EQ(rec.all[1].weight, 10 * kMs);
  // A thread gone between the listing and the read leaves no sample.
  probe.tids = {20, 30};
  size_t before = rec.all.size();
  sampler.tick(30 * kMs, 10 * kMs, probe, rec.sink());
  EXPECT_EQ(rec.all.size(), before + 1);
}

TEST(WallRate, KeepsTheRequestedRateWhileCheap) {
  WallRate rate(100);
  rate.note_tick_cost(5 * kMs, 10);  // the first tick's one-time costs are not counted
  EXPECT_FALSE(rate.lowered());
  rate.note_tick_cost(50 * 1000, 10);  // 50 us per tick: 0.5% of a core at 100 Hz
  EXPECT_EQ(rate.interval_nanos(), 10 * kMs);
  EXPECT_FALSE(rate.lowered());
}

TEST(WallRate, LowersTheRateToStayUnderTwoPercentOfOneCore) {
  WallRate rate(100);
  rate.note_tick_cost(0, 1000);  // first tick
  rate.note_tick_cost(2 * kMs, 1000);  // 2 ms per tick would be 20% at 100 Hz
  EXPECT_TRUE(rate.lowered());
  EXPECT_EQ(rate.interval_nanos(), 100 * kMs);  // 2 ms / 0.02 = one tick per 100 ms
  EXPECT_NEAR(2.0 * kMs / static_cast<double>(rate.interval_nanos()), 0.02, 1e-9);
  // A moving average: one cheap tick does not restore the full rate at once.
  rate.note_tick_cost(10 * 1000, 1000);
  EXPECT_TRUE(rate.lowered());
  for (int i = 0; i < 50; ++i) rate.note_tick_cost(10 * 1000, 10);
  EXPECT_FALSE(rate.lowered());
}

TEST(WallWindow, ClampsSamplesToTheWindowAndSumsCountAndTime) {
  WallWindow w(1000, 100 * kMs);
  uintptr_t pcs[] = {1, 2};
  WallSample s{10, WallState::kBlocked, SYS_read, pcs, 2, 95 * kMs, 105 * kMs};
  w.add(s);  // half before the window
  s.start_mono = 105 * kMs;
  s.end_mono = 115 * kMs;
  w.add(s);
  s.start_mono = 80 * kMs;
  s.end_mono = 90 * kMs;
  w.add(s);  // wholly before: nothing
  ASSERT_EQ(w.samples().size(), 1u);
  EXPECT_EQ(w.samples().begin()->second.count, 2);
  EXPECT_EQ(w.samples().begin()->second.nanos, 15 * kMs);
}

TEST(WallWindow, LabelsSayStateAndSyscall) {
  auto has = [](const std::vector<Label>& ls, const std::string& key) {
    for (const auto& l : ls)
      if (l.key == key) return true;
    return false;
  };
  auto blocked = wall_labels(7, "worker", WallState::kBlocked, SYS_epoll_wait);
  EXPECT_TRUE(has(blocked, "tid"));
  EXPECT_TRUE(has(blocked, "thread_name"));
  EXPECT_TRUE(has(blocked, "state"));
  ASSERT_TRUE(has(blocked, "syscall"));
  for (const auto& l : blocked) {
    if (l.key == "state") {
      EXPECT_EQ(l.str, "blocked");
    }
    if (l.key == "syscall") {
      EXPECT_EQ(l.str, "epoll_wait");
    }
  }
  auto run = wall_labels(7, "", WallState::kRunning, -1);
  EXPECT_FALSE(has(run, "syscall"));
  EXPECT_FALSE(has(run, "thread_name"));
  for (const auto& l : run) {
    if (l.key == "state") {
      EXPECT_EQ(l.str, "running");
    }
  }
}

TEST(WallWindow, ProfileRecordsALoweredRateInPeriodAndComments) {
  WallWindow w(1000, 0);
  w.note_tick(10 * kMs, 10, 50e3);
  WallWindow lowered(1000, 0);
  lowered.note_tick(10 * kMs, 10, 50e3);
  lowered.note_tick(250 * kMs, 1000, 5e6);
  EXPECT_EQ(wall_period_nanos(100, w.rate()), 10 * kMs);
  EXPECT_EQ(wall_period_nanos(100, lowered.rate()), 250 * kMs);
  std::string full = wall_rate_comment(100, w.rate());
  std::string low = wall_rate_comment(100, lowered.rate());
  EXPECT_EQ(full.find("LOWERED"), std::string::npos) << full;
  EXPECT_NE(low.find("LOWERED to 4.00 Hz (up to 100 Hz)"), std::string::npos) << low;
  EXPECT_NE(low.find("1000 threads, 5000 us"), std::string::npos) << low;
  auto name = [](pid_t) { return std::string("t"); };
  ProfileBuilder b = lowered.build(100, kMs, name);
  EXPECT_EQ(b.shape().period, 250 * kMs);
  EXPECT_EQ(b.shape().period_type.type, "wall");
  ASSERT_EQ(b.shape().sample_types.size(), 2u);
  EXPECT_EQ(b.shape().sample_types[1].type, "wall");
}

}  // namespace
}  // namespace profagent
