// e2e program: the program's own SIGPROF sent to itself while it blocks SIGPROF, thousands of
// times, each followed by a short burn of CPU and an unblock: the handler must have run
// exactly once per round when the unblock returns. Under the agent a round's SIGPROF is
// deferred and re-sent while the agent's own CPU timer (1000 Hz) keeps expiring on the same
// thread; a standard signal is pending at most once per thread, so a timer signal already
// pending used to swallow the re-sent one (the program's handler then never ran: a
// sigsuspend loop waiting for it hung). Prints "rounds N missed M" and exits 0.
// Usage: sigprof_deferred_storm [rounds]
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
