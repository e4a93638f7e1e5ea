// SIGNAL CONTEXT: the retry timer of signal_retry.h (raw timer_create / timer_settime /
// timer_delete system calls; errno preserved).
#include "agent/runtime/signal_retry.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/core/process_id.h"

namespace profagent {
namespace {

// The timer of this process: made for `signal`, aimed at thread `tid` of process `pid`.
struct RetryTimer {
  std::atomic<pid_t> pid{0};
  pid_t tid = 0;
  int signal = 0;
  int id = 0;  // the kernel's timer id
};
constinit RetryTimer g_timer;

bool make_timer(pid_t pid, pid_t tid, int sig) noexcept {
  // The kernel's struct sigevent; SIGEV_THREAD_ID's target goes where glibc's
  // sigev_notify_thread_id is (not named by every glibc version).
  struct sigevent ev;
  memset(&ev, 0, sizeof ev);
  ev.sigev_notify = SIGEV_THREAD_ID;
  ev.sigev_signo = sig;
  ev._sigev_un._tid = tid;
  int id = 0;
  if (syscall(SYS_timer_create, CLOCK_MONOTONIC, &ev, &id) != 0) return false;
  g_timer.tid = tid;
  g_timer.signal = sig;
  g_timer.id = id;
  g_timer.pid.store(pid, std::memory_order_release);
  return true;
}

}  // namespace

bool send_signal_again_soon(int sig, int64_t delay_nanos) noexcept {
  const int saved = errno;
  const pid_t pid = own_pid();
  const auto tid = static_cast<pid_t>(syscall(SYS_gettid));
  bool ok = true;
  if (g_timer.pid.load(std::memory_order_acquire) != pid) {
    ok = make_timer(pid, tid, sig);  // (a parent's timer id means nothing here)
  } else if (g_timer.tid != tid || g_timer.signal != sig) {
    syscall(SYS_timer_delete, g_timer.id);
    g_timer.pid.store(0, std::memory_order_release);
    ok = make_timer(pid, tid, sig);
  }
  if (ok) {
    itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = delay_nanos / 1000000000;
    when.it_value.tv_nsec = delay_nanos % 1000000000;
    if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0) when.it_value.tv_nsec = 1;
    ok = syscall(SYS_timer_settime, g_timer.id, 0, &when, nullptr) == 0;
  }
  errno = saved;
  return ok;
}

void end_signal_retries() noexcept {
  const int saved = errno;
  if (is_own_pid(g_timer.pid.load(std::memory_order_acquire))) {
    g_timer.pid.store(0, std::memory_order_release);
    syscall(SYS_timer_delete, g_timer.id);
  }
  errno = saved;
}

void end_signal_retries_of(int sig) noexcept {
  if (is_own_pid(g_timer.pid.load(std::memory_order_acquire)) && g_timer.signal == sig)
    end_signal_retries();
}

}  // namespace profagent
