// e2e program: the program's own SIGPROF sent to itself while it blocks SIGPROF, thousands of
// times, each followed by a short burn of CPU and an unblock: the handler must have run
// exactly once per round when the unblock returns. Under the agent a round's SIGPROF is
// deferred and re-sent while the agent's own CPU timer (1000 Hz) keeps expiring on the same
// thread; a standard signal is pending at most once per thread, so a timer signal already
// pending used to swallow the re-sent one (the program's handler then never ran: a
// sigsuspend loop waiting for it hung). Prints "rounds N missed M" and exits 0.
// With "wait", SIGPROF stays blocked and each round takes its SIGPROF with sigtimedwait
// (200 ms) after the burn: the agent's timer signal must never be pending on the thread while
// SIGPROF is really blocked for the wait, or the program's merges into it and is filtered out
// with it (~1 round in 1,000 was missed so).
// With "signalfd", the same rounds read their SIGPROF from a signalfd: every one read must be
// the program's own (an agent timer signal read there would be one the program never sent).
// With "signalfd-thread", the signalfd is made by the main thread and read by a thread it
// starts afterwards, which inherits the hold. With "restart", each round blocks SIGPROF,
// takes its SIGPROF with sigtimedwait and unblocks it again, and 300 ms of CPU in
// burn_after_holds follow with SIGPROF open (the agent's timer must run again after a hold).
// Usage: sigprof_deferred_storm [rounds] [wait|signalfd|signalfd-thread|restart]
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_handled;
static volatile unsigned long g_sink;

static void on_prof(int sig) {
  (void)sig;
  g_handled++;
}

static void burn_micros(long micros) {
  struct timespec start, now;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  do {
    for (int i = 0; i < 200; ++i) g_sink = g_sink * 6364136223846793005UL + 1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000000L + (now.tv_nsec - start.tv_nsec) / 1000 <
           micros);
}

__attribute__((noinline)) void burn_after_holds(void) { burn_micros(300000); }

// Takes a SIGPROF with sigtimedwait (200 ms): whether it was this process's own (not the
// agent's timer signal, not a timeout). Prints why not with STORM_VERBOSE.
static int took_own_sigprof(const sigset_t* prof, int round) {
  struct timespec timeout = {0, 200000000};
  siginfo_t info;
  int sig = sigtimedwait(prof, &info, &timeout);
  if (sig == SIGPROF && info.si_code != SI_TIMER && info.si_pid == getpid()) return 1;
  if (getenv("STORM_VERBOSE"))
    fprintf(stderr, "round %d: sigtimedwait gave %d (code %d)\n", round, sig,
            sig > 0 ? info.si_code : 0);
  return 0;
}

static int g_fd, g_rounds;

// The signalfd rounds: each sends SIGPROF to this thread and reads it back from the fd.
static int signalfd_rounds(void) {
  int missed = 0;
  for (int i = 0; i < g_rounds; ++i) {
    pthread_kill(pthread_self(), SIGPROF);
    burn_micros(20);
    struct pollfd p = {g_fd, POLLIN, 0};
    struct signalfd_siginfo si;
    if (poll(&p, 1, 200) != 1 || read(g_fd, &si, sizeof si) != (ssize_t)sizeof si ||
        si.ssi_code == SI_TIMER || si.ssi_pid != (uint32_t)getpid()) {
      ++missed;
      if (getenv("STORM_VERBOSE")) fprintf(stderr, "round %d: no signal of its own\n", i);
    }
  }
  return missed;
}

static void* signalfd_thread(void* missed) {
  *(int*)missed = signalfd_rounds();
  return NULL;
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5000;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prof;
  sigaction(SIGPROF, &sa, NULL);
  sigset_t prof;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  int missed = 0;
  g_rounds = rounds;
  if (argc > 2 && strncmp(argv[2], "signalfd", 8) == 0) {
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    g_fd = signalfd(-1, &prof, SFD_CLOEXEC);
    if (g_fd < 0) return 2;
    if (strcmp(argv[2], "signalfd-thread") == 0) {
      pthread_t t;
      if (pthread_create(&t, NULL, signalfd_thread, &missed) != 0) return 2;
      pthread_join(t, NULL);
    } else {
      missed = signalfd_rounds();
    }
    printf("rounds %d missed %d\n", rounds, missed);
    return 0;
  }
  if (argc > 2 && strcmp(argv[2], "restart") == 0) {
    for (int i = 0; i < rounds; ++i) {
      pthread_sigmask(SIG_BLOCK, &prof, NULL);
      pthread_kill(pthread_self(), SIGPROF);
      if (!took_own_sigprof(&prof, i)) ++missed;
      pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    }
    burn_after_holds();
    printf("rounds %d missed %d\n", rounds, missed);
    return 0;
  }
  if (argc > 2 && strcmp(argv[2], "wait") == 0) {
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    for (int i = 0; i < rounds; ++i) {
      pthread_kill(pthread_self(), SIGPROF);
      burn_micros(20);
      if (!took_own_sigprof(&prof, i)) ++missed;
    }
    printf("rounds %d missed %d\n", rounds, missed);
    return 0;
  }
  for (int i = 0; i < rounds; ++i) {
    int before = g_handled;
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    pthread_kill(pthread_self(), SIGPROF);
    burn_micros(20);
    pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    if (g_handled != before + 1) {
      ++missed;
      if (getenv("STORM_VERBOSE")) fprintf(stderr, "round %d: handler ran %d times\n", i, g_handled - before);
    }
  }
  printf("rounds %d missed %d\n", rounds, missed);
  return 0;
}
