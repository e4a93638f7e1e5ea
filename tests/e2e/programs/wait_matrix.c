/* The wait matrix (threads e2e test): one thread per blocking wait — poll, nanosleep,
 * epoll_wait, select, sem_timedwait, pthread_cond_timedwait, read on a pipe, accept and
 * sigwaitinfo — each in a function named wait_in_<call>, each waiting long (timeouts of
 * 600 s, beyond any wait of the tests; nanosleep 2 s at a time until woken) and counting
 * every early return (EINTR, a timeout, a wake-up before it was woken). A tenth thread
 * blocks every signal and waits in read() (wait_in_read_nosig). Prints "ready" once every thread is about to wait, then reads
 * one line from stdin: that line wakes every thread (a pipe write, a post, a connect, a
 * signal...). Prints one line per thread and "early_returns=N"; exits 0 if N is 0, else 1.
 * Threads are named w-<call> (w-condwait for the condition variable: at most 15 chars). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kLongWaitSeconds = 600 };

static atomic_int g_ready;
static atomic_int g_woken;  /* set before any thread is woken */
static atomic_int g_early;

static int g_poll_pipe[2], g_epoll_pipe[2], g_select_pipe[2], g_read_pipe[2], g_nosig_pipe[2];
static sem_t g_sem;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond;
static int g_cond_flag;
static int g_listen_fd;
static int g_listen_port;

static void report(const char* what, const char* outcome) {
  printf("%s %s\n", what, outcome);
  if (strcmp(outcome, "ok") != 0) atomic_fetch_add(&g_early, 1);
}

/* A wake-up before main woke the threads is early, whatever it returned. */
static const char* check(int failed, int err) {
  static __thread char buf[64];
  if (failed) {
    snprintf(buf, sizeof buf, "early:%s", err == EINTR ? "EINTR" : strerror(err));
    return buf;
  }
  return atomic_load(&g_woken) ? "ok" : "early:returned_before_woken";
}

static void deadline_in(struct timespec* ts, clockid_t clock, int seconds) {
  clock_gettime(clock, ts);
  ts->tv_sec += seconds;
}

__attribute__((noinline)) void wait_in_poll(void) {
  struct pollfd p = {g_poll_pipe[0], POLLIN, 0};
  atomic_fetch_add(&g_ready, 1);
  int rc = poll(&p, 1, kLongWaitSeconds * 1000);
  report("poll", check(rc != 1, rc < 0 ? errno : ETIMEDOUT));
}

/* Nothing but a signal wakes a sleep: it sleeps 2 s at a time until main has woken the
 * others, and each sleep must last its whole 2 s. */
__attribute__((noinline)) void wait_in_nanosleep(void) {
  const char* outcome = "ok";
  atomic_fetch_add(&g_ready, 1);
  do {
    struct timespec start, end, req = {2, 0};
    clock_gettime(CLOCK_MONOTONIC, &start);
    int rc = nanosleep(&req, NULL);
    int err = errno;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double slept = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    if (rc != 0) outcome = err == EINTR ? "early:EINTR" : "early:error";
    else if (slept < 1.99) outcome = "early:short_sleep";
  } while (!atomic_load(&g_woken) && strcmp(outcome, "ok") == 0);
  report("nanosleep", outcome);
}

__attribute__((noinline)) void wait_in_epoll_wait(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  epoll_ctl(ep, EPOLL_CTL_ADD, g_epoll_pipe[0], &ev);
  atomic_fetch_add(&g_ready, 1);
  struct epoll_event got;
  int rc = epoll_wait(ep, &got, 1, kLongWaitSeconds * 1000);
  report("epoll_wait", check(rc != 1, rc < 0 ? errno : ETIMEDOUT));
  close(ep);
}

__attribute__((noinline)) void wait_in_select(void) {
  fd_set set;
  FD_ZERO(&set);
  FD_SET(g_select_pipe[0], &set);
  struct timeval tv = {kLongWaitSeconds, 0};
  atomic_fetch_add(&g_ready, 1);
  int rc = select(g_select_pipe[0] + 1, &set, NULL, NULL, &tv);
  report("select", check(rc != 1, rc < 0 ? errno : ETIMEDOUT));
}

__attribute__((noinline)) void wait_in_sem_timedwait(void) {
  struct timespec deadline;
  deadline_in(&deadline, CLOCK_REALTIME, kLongWaitSeconds);
  atomic_fetch_add(&g_ready, 1);
  int rc = sem_timedwait(&g_sem, &deadline);
  report("sem_timedwait", check(rc != 0, errno));
}

__attribute__((noinline)) void wait_in_cond_timedwait(void) {
  struct timespec deadline;
  deadline_in(&deadline, CLOCK_MONOTONIC, kLongWaitSeconds);
  pthread_mutex_lock(&g_mutex);
  atomic_fetch_add(&g_ready, 1);
  /* One wait, no loop: a spurious return (which a signal can cause) counts as early. */
  int rc = pthread_cond_timedwait(&g_cond, &g_mutex, &deadline);
  int flag = g_cond_flag;
  pthread_mutex_unlock(&g_mutex);
  report("pthread_cond_timedwait", check(rc != 0 || !flag, rc != 0 ? rc : EAGAIN));
}

__attribute__((noinline)) void wait_in_read(void) {
  char c;
  atomic_fetch_add(&g_ready, 1);
  ssize_t n = read(g_read_pipe[0], &c, 1);
  report("read", check(n != 1, n < 0 ? errno : EPIPE));
}

__attribute__((noinline)) void wait_in_accept(void) {
  atomic_fetch_add(&g_ready, 1);
  int fd = accept(g_listen_fd, NULL, NULL);
  report("accept", check(fd < 0, errno));
  if (fd >= 0) close(fd);
}

__attribute__((noinline)) void wait_in_sigwaitinfo(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  siginfo_t info;
  atomic_fetch_add(&g_ready, 1);
  int rc = sigwaitinfo(&set, &info);
  report("sigwaitinfo", check(rc != SIGUSR1, rc < 0 ? errno : EINVAL));
}

__attribute__((noinline)) void wait_in_read_nosig(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  char c;
  atomic_fetch_add(&g_ready, 1);
  ssize_t n = read(g_nosig_pipe[0], &c, 1);
  report("read_nosig", check(n != 1, n < 0 ? errno : EPIPE));
}

struct Waiter {
  const char* name;
  void (*fn)(void);
  pthread_t thread;
};

static void* run_waiter(void* arg) {
  struct Waiter* w = arg;
  pthread_setname_np(pthread_self(), w->name);
  w->fn();
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* SIGUSR1 is for sigwaitinfo only: blocked in every thread (inherited). */
  sigset_t usr1;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &usr1, NULL);

  if (pipe(g_poll_pipe) || pipe(g_epoll_pipe) || pipe(g_select_pipe) || pipe(g_read_pipe) ||
      pipe(g_nosig_pipe))
    return 2;
  sem_init(&g_sem, 0, 0);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&g_cond, &attr);
  g_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  if (bind(g_listen_fd, (struct sockaddr*)&addr, sizeof addr) || listen(g_listen_fd, 4) ||
      getsockname(g_listen_fd, (struct sockaddr*)&addr, &len))
    return 2;
  g_listen_port = ntohs(addr.sin_port);

  struct Waiter waiters[] = {
      {.name = "w-poll", .fn = wait_in_poll},
      {.name = "w-nanosleep", .fn = wait_in_nanosleep},
      {.name = "w-epoll_wait", .fn = wait_in_epoll_wait},
      {.name = "w-select", .fn = wait_in_select},
      {.name = "w-sem_timedwait", .fn = wait_in_sem_timedwait},
      {.name = "w-condwait", .fn = wait_in_cond_timedwait},
      {.name = "w-read", .fn = wait_in_read},
      {.name = "w-accept", .fn = wait_in_accept},
      {.name = "w-sigwaitinfo", .fn = wait_in_sigwaitinfo},
      {.name = "w-read_nosig", .fn = wait_in_read_nosig},
  };
  enum { kWaiters = sizeof waiters / sizeof waiters[0] };
  struct timespec started;
  clock_gettime(CLOCK_MONOTONIC, &started);
  for (int i = 0; i < kWaiters; ++i)
    pthread_create(&waiters[i].thread, NULL, run_waiter, &waiters[i]);
  while (atomic_load(&g_ready) < kWaiters) usleep(1000);
  usleep(100 * 1000);  /* from "about to wait" to in the kernel */
  printf("ready\n");

  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL) return 2;

  atomic_store(&g_woken, 1);
  (void)!write(g_poll_pipe[1], "x", 1);
  (void)!write(g_epoll_pipe[1], "x", 1);
  (void)!write(g_select_pipe[1], "x", 1);
  (void)!write(g_read_pipe[1], "x", 1);
  (void)!write(g_nosig_pipe[1], "x", 1);
  sem_post(&g_sem);
  pthread_mutex_lock(&g_mutex);
  g_cond_flag = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_mutex);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  connect(c, (struct sockaddr*)&addr, sizeof addr);
  pthread_kill(waiters[8].thread, SIGUSR1);
  for (int i = 0; i < kWaiters; ++i) pthread_join(waiters[i].thread, NULL);
  close(c);
  printf("early_returns=%d\n", atomic_load(&g_early));
  return atomic_load(&g_early) == 0 ? 0 : 1;
}
