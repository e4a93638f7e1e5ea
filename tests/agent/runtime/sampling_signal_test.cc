// Unit tests of the SIGPROF dispatcher (agent/runtime/sampling_signal.h): which SIGPROFs it
// takes for the agent (crafted siginfo), and, with the dispatcher really installed, where real
// signals go: a CPU timer's to the CPU handler, a snapshot request from this process to the
// snapshot or wall handler, everything else to the program's own disposition (its handler,
// SIG_IGN, SIG_DFL). Installing the dispatcher is process-wide, so each such check runs in a
// forked child (tests/common/run_in_child.h).
#include "agent/runtime/sampling_signal.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <thread>

#include "tests/common/run_in_child.h"

namespace profagent {
namespace {

using testing::run_in_child;

void* snapshot_value(uint32_t cookie) {
  return reinterpret_cast<void*>((static_cast<uintptr_t>(kSnapshotMagic) << 32) | cookie);
}

siginfo_t crafted(int code, void* value, pid_t pid) {
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = SIGPROF;
  info.si_code = code;
  info.si_value.sival_ptr = value;
  if (code != SI_TIMER) info.si_pid = pid;  // si_pid shares storage with the timer id
  return info;
}

TEST(SamplingSignal, TheCpuTimersCookieIsTheAgentsOnlyFromATimer) {
  siginfo_t timer = crafted(SI_TIMER, kTimerCookie, 0);
  EXPECT_TRUE(is_agent_signal(&timer));
  siginfo_t queued = crafted(SI_QUEUE, kTimerCookie, getpid());
  EXPECT_FALSE(is_agent_signal(&queued));
  siginfo_t other_timer = crafted(SI_TIMER, reinterpret_cast<void*>(0x1234), 0);
  EXPECT_FALSE(is_agent_signal(&other_timer));  // the program's own timer_create
  siginfo_t null_timer = crafted(SI_TIMER, nullptr, 0);
  EXPECT_FALSE(is_agent_signal(&null_timer));
}

TEST(SamplingSignal, SnapshotMagicIsTheAgentsFromATimerOrQueuedByThisProcessOnly) {
  for (uint32_t cookie : {0u, 7u, kWallCookieBit | 3u}) {
    siginfo_t timer = crafted(SI_TIMER, snapshot_value(cookie), 0);
    EXPECT_TRUE(is_agent_signal(&timer)) << cookie;
    siginfo_t ours = crafted(SI_QUEUE, snapshot_value(cookie), getpid());
    EXPECT_TRUE(is_agent_signal(&ours)) << cookie;
    siginfo_t theirs = crafted(SI_QUEUE, snapshot_value(cookie), getpid() + 1);
    EXPECT_FALSE(is_agent_signal(&theirs)) << cookie;
  }
  // The magic must be in the high half exactly.
  siginfo_t low = crafted(SI_QUEUE, reinterpret_cast<void*>(uintptr_t{kSnapshotMagic}), getpid());
  EXPECT_FALSE(is_agent_signal(&low));
  siginfo_t near = crafted(SI_QUEUE, reinterpret_cast<void*>((uintptr_t{kSnapshotMagic + 1}) << 32),
                           getpid());
  EXPECT_FALSE(is_agent_signal(&near));
}

TEST(SamplingSignal, ProgramSigprofsAreNotTheAgents) {
  siginfo_t user = crafted(SI_USER, nullptr, getpid());  // kill(getpid(), SIGPROF)
  EXPECT_FALSE(is_agent_signal(&user));
  siginfo_t tkill = crafted(SI_TKILL, nullptr, getpid());  // raise / pthread_kill
  EXPECT_FALSE(is_agent_signal(&tkill));
  siginfo_t queued = crafted(SI_QUEUE, reinterpret_cast<void*>(42), getpid());
  EXPECT_FALSE(is_agent_signal(&queued));
  siginfo_t kernel = crafted(SI_KERNEL, nullptr, 0);  // ITIMER_PROF
  EXPECT_FALSE(is_agent_signal(&kernel));
  siginfo_t user_magic = crafted(SI_USER, snapshot_value(1), getpid());
  EXPECT_FALSE(is_agent_signal(&user_magic));
}

// What the handlers saw, in the child.
std::atomic<int> g_cpu_calls{0};
std::atomic<int> g_snapshot_calls{0};
std::atomic<int> g_wall_calls{0};
std::atomic<int> g_program_calls{0};
std::atomic<pid_t> g_last_tid{0};
std::atomic<intptr_t> g_last_value{0};
std::atomic<int> g_last_code{0};

void record(siginfo_t* info) noexcept {
  g_last_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
  g_last_value.store(reinterpret_cast<intptr_t>(info->si_value.sival_ptr));
  g_last_code.store(info->si_code);
  errno = EBADF;  // the dispatcher restores the interrupted code's errno
}
void on_cpu(siginfo_t* info, void*) noexcept { record(info); g_cpu_calls.fetch_add(1); }
void on_snapshot(siginfo_t* info, void*) noexcept { record(info); g_snapshot_calls.fetch_add(1); }
void on_wall(siginfo_t* info, void*) noexcept { record(info); g_wall_calls.fetch_add(1); }
void on_program(int, siginfo_t* info, void*) { record(info); g_program_calls.fetch_add(1); }

int total_calls() {
  return g_cpu_calls.load() + g_snapshot_calls.load() + g_wall_calls.load() + g_program_calls.load();
}

// In the child: SIGPROF unblocked, the dispatcher installed, the handlers registered.
std::string set_up_child() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  CHILD_CHECK(install_sampling_signal());
  CHILD_CHECK(install_sampling_signal());  // idempotent
  CHILD_CHECK(sampling_signal_owned());
  set_cpu_sample_handler(on_cpu);
  set_thread_snapshot_handler(on_snapshot);
  set_wall_sample_handler(on_wall);
  struct sigaction program;
  memset(&program, 0, sizeof program);
  program.sa_sigaction = on_program;
  program.sa_flags = SA_SIGINFO;
  sigemptyset(&program.sa_mask);
  set_program_sigprof_action(program);
  return "";
}

bool wait_until(const std::function<bool()>& done, int seconds = 20) {
  timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  volatile uint64_t sink = 0;
  while (!done()) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec > seconds) return false;
    sink = sink + 1;  // burn CPU: CPU-clock timers advance only while we run
  }
  return true;
}

void expect_passed(const testing::ChildResult& result) {
  EXPECT_TRUE(result.passed()) << result.message << " (status " << result.status << ")";
}

// While the dispatcher runs, every asynchronous signal waits (a program handler can then
// never leave from inside it with siglongjmp); the signals a fault raises do not.
TEST(SamplingSignal, TheDispatcherBlocksAsynchronousSignalsOnly) {
  expect_passed(run_in_child([]() -> std::string {
    std::string setup = set_up_child();
    if (!setup.empty()) return setup;
    struct sigaction installed;
    CHILD_CHECK(sigaction(SIGPROF, nullptr, &installed) == 0);  // no sigaction hook here
    for (int sig : {SIGALRM, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD, SIGRTMIN})
      CHILD_CHECK(sigismember(&installed.sa_mask, sig) == 1);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS})
      CHILD_CHECK(sigismember(&installed.sa_mask, sig) == 0);
    return "";
  }));
}

// Before an exec, a SIGPROF the program ignores is ignored for real (exec would reset the
// dispatcher to the default), and put back when the exec failed; a program handler is left
// to the dispatcher.
TEST(SamplingSignal, AnIgnoredSigprofIsIgnoredForRealAroundAnExecOnly) {
  expect_passed(run_in_child([]() -> std::string {
    std::string setup = set_up_child();  // the program's disposition: a handler
    if (!setup.empty()) return setup;
    struct sigaction now;
    CHILD_CHECK(!ignore_sigprof_for_exec());
    CHILD_CHECK(sigaction(SIGPROF, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO));
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    set_program_sigprof_action(ignore);
    CHILD_CHECK(ignore_sigprof_for_exec());
    CHILD_CHECK(sigaction(SIGPROF, nullptr, &now) == 0);  // no sigaction hook here
    CHILD_CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN);
    restore_sigprof_after_failed_exec();
    CHILD_CHECK(sigaction(SIGPROF, nullptr, &now) == 0 && (now.sa_flags & SA_SIGINFO));
    CHILD_CHECK(sigismember(&now.sa_mask, SIGALRM) == 1);  // the dispatcher, as installed
    return "";
  }));
}

TEST(SamplingSignal, ARealCpuTimerSignalReachesTheCpuHandlerOnly) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_ptr = kTimerCookie;
    sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
    timer_t timer;
    CHILD_CHECK(timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &timer) == 0);
    itimerspec its{};
    its.it_value.tv_nsec = 1000000;
    its.it_interval.tv_nsec = 1000000;
    CHILD_CHECK(timer_settime(timer, 0, &its, nullptr) == 0);
    errno = ENOENT;
    CHILD_CHECK(wait_until([] { return g_cpu_calls.load() >= 3; }));
    timer_delete(timer);
    CHILD_CHECK(errno == ENOENT);  // not the handler's EBADF
    CHILD_CHECK(g_last_code.load() == SI_TIMER);
    CHILD_CHECK(g_last_tid.load() == static_cast<pid_t>(syscall(SYS_gettid)));
    CHILD_CHECK(g_program_calls.load() == 0);
    CHILD_CHECK(g_snapshot_calls.load() == 0 && g_wall_calls.load() == 0);
    return "";
  }));
}

TEST(SamplingSignal, AProgramsOwnSigprofReachesItsHandlerWithItsValue) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    sigval value;
    value.sival_ptr = reinterpret_cast<void*>(42);
    errno = ENOENT;
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);  // delivered before it returns
    CHILD_CHECK(errno == ENOENT);
    CHILD_CHECK(g_program_calls.load() == 1);
    CHILD_CHECK(g_last_value.load() == 42);
    CHILD_CHECK(g_last_code.load() == SI_QUEUE);
    CHILD_CHECK(kill(getpid(), SIGPROF) == 0);
    CHILD_CHECK(g_program_calls.load() == 2);
    CHILD_CHECK(g_last_code.load() == SI_USER);
    CHILD_CHECK(g_cpu_calls.load() == 0 && g_snapshot_calls.load() == 0 && g_wall_calls.load() == 0);
    return "";
  }));
}

TEST(SamplingSignal, SnapshotRequestsFromThisProcessGoToTheSnapshotOrWallHandler) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    sigval value;
    value.sival_ptr = snapshot_value(5);
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(g_snapshot_calls.load() == 1);
    CHILD_CHECK(g_last_value.load() == reinterpret_cast<intptr_t>(snapshot_value(5)));
    value.sival_ptr = snapshot_value(kWallCookieBit | 5);
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(g_wall_calls.load() == 1);
    CHILD_CHECK(g_snapshot_calls.load() == 1);
    CHILD_CHECK(g_program_calls.load() == 0 && g_cpu_calls.load() == 0);
    return "";
  }));
}

TEST(SamplingSignal, TheSnapshotMagicQueuedByAnotherProcessIsTheProgramsSignal) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    pid_t parent = getpid();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // delivered when unblocked, below
    pid_t sender = fork();
    if (sender == 0) {
      sigval value;
      value.sival_ptr = snapshot_value(5);
      _exit(sigqueue(parent, SIGPROF, value) == 0 ? 0 : 1);
    }
    int status = 0;
    waitpid(sender, &status, 0);
    CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    CHILD_CHECK(g_program_calls.load() == 1);
    CHILD_CHECK(g_snapshot_calls.load() == 0 && g_wall_calls.load() == 0);
    return "";
  }));
}

TEST(SamplingSignal, AProgramThatIgnoresSigprofIgnoresItsOwnButTheAgentStillSamples) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_handler = SIG_IGN;
    set_program_sigprof_action(ignore);
    struct sigaction seen;
    program_sigprof_action(&seen);
    CHILD_CHECK(seen.sa_handler == SIG_IGN);
    sigval value;
    value.sival_ptr = reinterpret_cast<void*>(42);
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(kill(getpid(), SIGPROF) == 0);
    CHILD_CHECK(total_calls() == 0);  // and we are still alive
    value.sival_ptr = snapshot_value(1);
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(g_snapshot_calls.load() == 1);
    return "";
  }));
}

TEST(SamplingSignal, AProgramWithTheDefaultDispositionDiesOfItsOwnSigprof) {
  auto result = run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    set_program_sigprof_action(dfl);
    sigval value;
    value.sival_ptr = snapshot_value(1);  // the agent's: survives
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(g_snapshot_calls.load() == 1);
    kill(getpid(), SIGPROF);
    return "survived the program's SIGPROF with SIG_DFL";
  });
  EXPECT_TRUE(WIFSIGNALED(result.status) && WTERMSIG(result.status) == SIGPROF)
      << result.message << " (status " << result.status << ")";
  EXPECT_EQ(result.message, "");
}

// In a child: the program's disposition of SIGPROF set (the real sigaction: no interposer
// here), SIGPROF unblocked, then the dispatcher installed over it.
bool install_over_programs(const struct sigaction& program) {
  if (sigaction(SIGPROF, &program, nullptr) != 0) return false;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPROF);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return install_sampling_signal();
}

TEST(SamplingSignal, AHandlerTheProgramSetBeforeInstallationIsForwardedTo) {
  if (sampling_signal_owned()) GTEST_SKIP() << "the dispatcher is already installed here";
  expect_passed(run_in_child([]() -> std::string {
    struct sigaction program;
    memset(&program, 0, sizeof program);
    program.sa_sigaction = on_program;
    program.sa_flags = SA_SIGINFO;
    CHILD_CHECK(install_over_programs(program));
    struct sigaction seen;
    program_sigprof_action(&seen);
    CHILD_CHECK(seen.sa_sigaction == on_program);
    struct sigaction installed;
    sigaction(SIGPROF, nullptr, &installed);
    CHILD_CHECK(installed.sa_sigaction != on_program);  // the dispatcher is in front
    CHILD_CHECK((installed.sa_flags & (SA_ONSTACK | SA_SIGINFO | SA_RESTART)) ==
                (SA_ONSTACK | SA_SIGINFO | SA_RESTART));
    sigval value;
    value.sival_ptr = reinterpret_cast<void*>(42);
    CHILD_CHECK(sigqueue(getpid(), SIGPROF, value) == 0);
    CHILD_CHECK(g_program_calls.load() == 1);
    return "";
  }));
}

// The usual case at a start: SIGPROF at its plain default. Installation records nothing (the
// zeroed record already is the default: no mask changes for it), and the program's own
// SIGPROF still kills the process as without the agent.
TEST(SamplingSignal, TheDefaultDispositionAtInstallationStaysTheProgramsDefault) {
  if (sampling_signal_owned()) GTEST_SKIP() << "the dispatcher is already installed here";
  auto result = run_in_child([]() -> std::string {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    CHILD_CHECK(install_over_programs(dfl));
    struct sigaction seen;
    program_sigprof_action(&seen);
    CHILD_CHECK(seen.sa_handler == SIG_DFL && (seen.sa_flags & SA_SIGINFO) == 0);
    kill(getpid(), SIGPROF);
    return "survived the program's SIGPROF with SIG_DFL";
  });
  EXPECT_TRUE(WIFSIGNALED(result.status) && WTERMSIG(result.status) == SIGPROF)
      << result.message << " (status " << result.status << ")";
  EXPECT_EQ(result.message, "");
}

TEST(SamplingSignal, AClockRequestOnARunningThreadReachesItAndAGoneThreadIsEsrch) {
  expect_passed(run_in_child([]() -> std::string {
    if (std::string e = set_up_child(); !e.empty()) return e;
    std::atomic<bool> stop{false};
    std::atomic<pid_t> spinner_tid{0};
    std::thread spinner([&] {
      spinner_tid.store(static_cast<pid_t>(syscall(SYS_gettid)));
      volatile uint64_t sink = 0;
      while (!stop.load()) sink = sink + 1;
    });
    while (spinner_tid.load() == 0) std::this_thread::yield();
    pid_t tid = spinner_tid.load();
    timer_t timer;
    auto checks = [&]() -> std::string {
    CHILD_CHECK(arm_cpu_clock_request(tid, 9, &timer) == 0);
    CHILD_CHECK(wait_until([] { return g_snapshot_calls.load() == 1; }));
    timer_delete(timer);
    CHILD_CHECK(g_last_tid.load() == tid);  // on the thread asked, not the caller
    CHILD_CHECK(g_last_code.load() == SI_TIMER);
    CHILD_CHECK(g_last_value.load() == reinterpret_cast<intptr_t>(snapshot_value(9)));
    CHILD_CHECK(arm_cpu_clock_request(tid, kWallCookieBit | 9, &timer) == 0);
    CHILD_CHECK(wait_until([] { return g_wall_calls.load() == 1; }));
    timer_delete(timer);
    CHILD_CHECK(g_last_tid.load() == tid);
    CHILD_CHECK(g_snapshot_calls.load() == 1 && g_program_calls.load() == 0);
    return "";
    };
    std::string failed = checks();
    stop.store(true);
    spinner.join();
    if (!failed.empty()) return failed;
    // join() returns when the thread's tid word is cleared, which the kernel does while the
    // task is still exiting: wait until the tid is gone for the kernel too (a loaded machine
    // widened that window enough for a clock timer to be made on the dying task).
    CHILD_CHECK(wait_until([tid] {
      return syscall(SYS_tgkill, getpid(), tid, 0) != 0 && errno == ESRCH;
    }));
    CHILD_CHECK(arm_cpu_clock_request(tid, 9, &timer) == ESRCH);
    return "";
  }));
}

TEST(SamplingSignal, ThreadCpuClockReadsThatThreadsCpuTime) {
  timespec own, via_tid;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &own);
  ASSERT_EQ(clock_gettime(thread_cpu_clock(static_cast<pid_t>(syscall(SYS_gettid))), &via_tid), 0);
  int64_t a = own.tv_sec * 1000000000LL + own.tv_nsec;
  int64_t b = via_tid.tv_sec * 1000000000LL + via_tid.tv_nsec;
  EXPECT_GE(b, a);
  EXPECT_LT(b - a, 1000000000LL);
  pid_t gone = 0;
  std::thread([&] { gone = static_cast<pid_t>(syscall(SYS_gettid)); }).join();
  // join returns once the thread cleared its tid, a moment before the kernel lets go of it.
  for (int i = 0; i < 10000 && syscall(SYS_tgkill, getpid(), gone, 0) == 0; ++i) usleep(100);
  EXPECT_NE(clock_gettime(thread_cpu_clock(gone), &via_tid), 0);
}

}  // namespace
}  // namespace profagent
