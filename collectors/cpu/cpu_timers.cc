// Per-thread CPU-time timers. Normal context; the per-thread arm/disarm also runs on host
// threads (thread start/exit) and uses only syscalls and a fixed table guarded by a spin
// flag no host code can hold.
#include "agent/core/large_bss.h"
#include "collectors/cpu/cpu_timers.h"

#include <signal.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>

#include <x86intrin.h>

#include "agent/core/clock.h"
#include "agent/core/code_layout.h"
#include "agent/core/raw_syscall.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

// Every timer this process armed: tid -> timer. Fixed size; a thread past the table's
// capacity is simply not sampled.
constexpr int kMaxTimers = 8192;
struct TimerSlot {
  std::atomic<pid_t> tid;  // 0 = free
  timer_t timer;
  int64_t armed_cpu;  // the thread's CPU time when its timer was armed
  // Stopped for a hold since the collector last asked (take_stopped_for_hold).
  std::atomic<bool> stopped_for_hold;
};
// The first slots (a process's first threads, and the one a fork child arms) lie with the
// rest of what every fork child writes (large_bss.h): that child copies one page of the
// agent's, not one more for its timer. The others in .lbss.
constexpr int kNearSlots = 4;
PROFAGENT_FORK_BSS constinit TimerSlot g_near_slots[kNearSlots] = {};
PROFAGENT_LARGE_BSS constinit TimerSlot g_far_slots[kMaxTimers - kNearSlots] = {};
PROFAGENT_FORK_BSS constinit std::atomic<int> g_live{0};
// Slots [0, g_used) were ever claimed: the scans stop there, so a process with a few threads
// touches one page of the table, not all of it (a fork child of a shell resets it all).
PROFAGENT_FORK_BSS constinit std::atomic<int> g_used{0};

PROFAGENT_FORK_PATH TimerSlot& slot_at(int i) noexcept {
  return i < kNearSlots ? g_near_slots[i] : g_far_slots[i - kNearSlots];
}

int index_of(const TimerSlot& slot) noexcept {
  if (&slot >= g_near_slots && &slot < g_near_slots + kNearSlots)
    return static_cast<int>(&slot - g_near_slots);
  return kNearSlots + static_cast<int>(&slot - g_far_slots);
}

// The slots ever claimed, in order.
PROFAGENT_FORK_PATH int used_count() noexcept {
  int n = g_used.load(std::memory_order_acquire);
  return n < kMaxTimers ? n : kMaxTimers;
}
// The calling thread's slot, when it armed its own timer (saves a table scan at exit).
thread_local int t_slot __attribute__((tls_model("initial-exec"))) = -1;

// A value in [0, bound) from a cheap xorshift of `seed` (no allocation, no shared state).
PROFAGENT_FORK_PATH int64_t random_below(int64_t bound, uint64_t seed) noexcept {
  uint64_t x = seed;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return bound > 0 ? static_cast<int64_t>(x % static_cast<uint64_t>(bound)) : 0;
}

// What a timer of this process delivers: SIGPROF to thread `tid`, marked as ours.
PROFAGENT_FORK_PATH void fill_timer_event(sigevent& sev, pid_t tid) noexcept {
  memset(&sev, 0, sizeof sev);
  // Stored as immediates: the compiler would merge the pair into one 8-byte constant read
  // from .rodata, a page of the library a shell's fork child touches for nothing else.
  int notify = SIGEV_THREAD_ID;
  int signo = kSamplingSignal;
  __asm__("" : "+r"(notify), "+r"(signo));
  sev.sigev_notify = notify;
  sev.sigev_signo = signo;
  // (Tells the dispatcher this SIGPROF is ours.)
  sev.sigev_value.sival_ptr = reinterpret_cast<void*>(kTimerCookieBits);
  sev._sigev_un._tid = tid;
}

TimerSlot* find_slot(pid_t tid) noexcept {
  for (int i = 0, n = used_count(); i < n; ++i)
    if (slot_at(i).tid.load(std::memory_order_acquire) == tid) return &slot_at(i);
  return nullptr;
}

// The calling thread's slot: the one it remembers, else found by a scan (a thread armed from
// /proc/self/task at start by another thread).
TimerSlot* own_slot(pid_t tid) noexcept {
  if (t_slot >= 0 && slot_at(t_slot).tid.load(std::memory_order_acquire) == tid)
    return &slot_at(t_slot);
  return find_slot(tid);
}

}  // namespace

PROFAGENT_FORK_PATH bool CpuTimers::arm(pid_t tid, bool own_thread) noexcept {
  if (own_thread && t_slot >= 0 && slot_at(t_slot).tid.load() == tid) return true;
  if (!own_thread && find_slot(tid) != nullptr) return true;
  TimerSlot* slot = nullptr;
  for (int i = 0; i < kMaxTimers && slot == nullptr; ++i) {
    pid_t expected = 0;
    // -1: reserved while arming
    if (slot_at(i).tid.compare_exchange_strong(expected, -1)) slot = &slot_at(i);
  }
  if (slot == nullptr) return false;
  // Before the tid is published below: a scan that can see the tid sees the slot.
  int used = index_of(*slot) + 1;
  for (int cur = g_used.load(); cur < used && !g_used.compare_exchange_weak(cur, used);) {
  }
  sigevent sev;
  fill_timer_event(sev, tid);
  clockid_t clock = own_thread ? CLOCK_THREAD_CPUTIME_ID : thread_cpu_clock(tid);
  timer_t timer;
  if (timer_create(clock, &sev, &timer) != 0) {
    slot->tid.store(0);
    return false;
  }
  itimerspec its = running_timer();
  if (timer_settime(timer, 0, &its, nullptr) != 0) {
    timer_delete(timer);
    slot->tid.store(0);
    return false;
  }
  slot->timer = timer;
  slot->armed_cpu = clock_nanos_by_syscall(clock);  // (a CPU clock: a system call either way)
  slot->tid.store(tid, std::memory_order_release);
  if (own_thread) t_slot = index_of(*slot);
  g_live.fetch_add(1);
  return true;
}

PROFAGENT_FORK_PATH
bool CpuTimers::arm_current_thread() noexcept { return arm(current_tid(), true); }

// (A thread's own slot only changes hands once the thread has ended, except by disarm_all at
// stop; a timer id deleted under us makes timer_settime fail, harmlessly.)
bool CpuTimers::hold_current_thread(bool held) noexcept {
  TimerSlot* slot = own_slot(current_tid());
  if (slot == nullptr) return false;
  t_slot = index_of(*slot);
  itimerspec its = held ? itimerspec{} : running_timer();
  if (held) slot->stopped_for_hold.store(true, std::memory_order_relaxed);
  return timer_settime(slot->timer, 0, &its, nullptr) == 0;
}

bool CpuTimers::take_stopped_for_hold(const Armed& armed) noexcept {
  TimerSlot& slot = slot_at(armed.slot);
  return slot.tid.load(std::memory_order_acquire) == armed.tid &&
         slot.stopped_for_hold.load(std::memory_order_relaxed) &&
         slot.stopped_for_hold.exchange(false, std::memory_order_relaxed);
}

// running_timer(seed) seeded from the time-stamp counter and the calling thread's tid (no
// clock read: a start that reads none through the vDSO faults in neither its data page nor
// libc's clock_gettime).
PROFAGENT_FORK_PATH itimerspec CpuTimers::running_timer() const noexcept {
  return running_timer(static_cast<uint64_t>(__rdtsc()) ^
                       (static_cast<uint64_t>(current_tid()) << 32));
}

// Every period, the first expiration at a random point of the first one (drawn from
// `seed`), so threads do not sample in lockstep.
PROFAGENT_FORK_PATH itimerspec CpuTimers::running_timer(uint64_t seed) const noexcept {
  itimerspec its;
  its.it_interval.tv_sec = period_nanos_ / 1000000000;
  its.it_interval.tv_nsec = period_nanos_ % 1000000000;
  int64_t first = 1 + random_below(period_nanos_, seed);
  its.it_value.tv_sec = first / 1000000000;
  its.it_value.tv_nsec = first % 1000000000;
  return its;
}

void CpuTimers::disarm_current_thread() noexcept {
  pid_t tid = current_tid();
  TimerSlot* slot = own_slot(tid);
  if (slot == nullptr) return;
  t_slot = -1;
  pid_t expected = tid;
  if (!slot->tid.compare_exchange_strong(expected, -1)) return;
  timer_delete(slot->timer);
  slot->tid.store(0, std::memory_order_release);
  g_live.fetch_sub(1);
}

PROFAGENT_START_PATH
void CpuTimers::arm_existing_threads() {
  // A process that never started a thread (glibc's flag; the agent's own start later): the
  // calling thread is the only one, armed without listing /proc/self/task (~40 us of every
  // process start). A thread made with a raw clone(CLONE_THREAD) before the agent started
  // does not clear the flag and goes without a CPU timer (it gets none either when made
  // later: only pthread_create is interposed).
  if (__libc_single_threaded) {
    arm(current_tid(), true);
    return;
  }
  for (pid_t tid : list_threads()) {
    if (is_agent_thread(tid)) continue;
    arm(tid, tid == current_tid());
  }
}

void CpuTimers::sweep_dead_threads() {
  for (int i = 0, n = used_count(); i < n; ++i) {
    TimerSlot& s = slot_at(i);
    pid_t tid = s.tid.load(std::memory_order_acquire);
    if (tid <= 0) continue;
    // tgkill with signal 0 only checks that the thread exists in this process.
    if (syscall(SYS_tgkill, getpid(), tid, 0) == 0) continue;
    pid_t expected = tid;
    if (!s.tid.compare_exchange_strong(expected, -1)) continue;
    timer_delete(s.timer);
    s.tid.store(0, std::memory_order_release);
    g_live.fetch_sub(1);
  }
}

void CpuTimers::disarm_all() {
  for (int i = 0, n = used_count(); i < n; ++i) {
    TimerSlot& s = slot_at(i);
    pid_t tid = s.tid.load(std::memory_order_acquire);
    if (tid <= 0) continue;
    pid_t expected = tid;
    if (!s.tid.compare_exchange_strong(expected, -1)) continue;
    timer_delete(s.timer);
    s.tid.store(0, std::memory_order_release);
    g_live.fetch_sub(1);
  }
}

// Written only where a value changes (fork_reset.h), and with no call a shell's child makes
// for nothing else: g_used stays the parent's (a bound for the scans, never too low), the
// timer is made with raw system calls (glibc's timer_create and timer_settime are a page of
// libc no other fork-path call touches), its first expiration drawn from the fork's time and
// the child's pid, and its CPU time at arming is 0 (the child's thread began at the fork):
// no clock call, whose vDSO and libc pages a child that execs at once faulted in for nothing.
PROFAGENT_FORK_PATH void CpuTimers::reset_after_fork(bool rearm, uint64_t seed) noexcept {
  for (int i = 0, n = used_count(); i < n; ++i) store_if_changed(slot_at(i).tid, 0);
  assign_if_changed(t_slot, -1);
  bool armed = false;
  if (rearm) {
    const pid_t tid = current_tid();
    TimerSlot& slot = g_near_slots[0];  // every slot is free now
    slot.tid.store(-1);  // reserved while arming
    if (g_used.load() < 1) g_used.store(1);
    sigevent sev;
    fill_timer_event(sev, tid);
    int kernel_timer = -1;
    itimerspec its = running_timer(seed ^ static_cast<uint64_t>(tid));
    // (In line: raw_syscall.h.)
    if (raw_syscall(SYS_timer_create, CLOCK_THREAD_CPUTIME_ID, reinterpret_cast<long>(&sev),
                    reinterpret_cast<long>(&kernel_timer)) == 0) {
      if (raw_syscall(SYS_timer_settime, kernel_timer, 0, reinterpret_cast<long>(&its)) == 0) {
        // (glibc's timer_t of a signal-delivering timer is the kernel's id.)
        slot.timer = reinterpret_cast<timer_t>(static_cast<intptr_t>(kernel_timer));
        slot.armed_cpu = 0;
        slot.tid.store(tid, std::memory_order_release);
        t_slot = 0;
        armed = true;
      } else {
        raw_syscall(SYS_timer_delete, kernel_timer);
      }
    }
    if (!armed) slot.tid.store(0);
  }
  store_if_changed(g_live, armed ? 1 : 0);
}

PROFAGENT_START_PATH int CpuTimers::live_timers() const noexcept { return g_live.load(); }

std::vector<CpuTimers::Armed> CpuTimers::live_threads() const {
  std::vector<Armed> threads;
  for (int i = 0, n = used_count(); i < n; ++i) {
    const TimerSlot& s = slot_at(i);
    pid_t tid = s.tid.load(std::memory_order_acquire);
    if (tid > 0) threads.push_back(Armed{tid, s.armed_cpu, i});
  }
  return threads;
}

int64_t CpuTimers::thread_cpu_nanos(pid_t tid) noexcept {
  timespec ts;
  if (clock_gettime(thread_cpu_clock(tid), &ts) != 0) return -1;
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

}  // namespace profagent
