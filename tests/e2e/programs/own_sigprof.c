// e2e program: a program with its own profiler: a SIGPROF handler and ITIMER_PROF. It must
// keep working under the agent (the agent steps aside). Prints how many of its own SIGPROFs
// arrived, and whether the disposition it reads back is its own. It runs for 60 of its own
// ticks (about 0.6 s of CPU), long enough for a few of the agent's collector ticks, which is
// where the agent notices and logs the shared SIGPROF.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static volatile sig_atomic_t ticks;
static void on_prof(int sig) { (void)sig; ++ticks; }
static volatile unsigned long sink;

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_prof;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval it = {{0, 10000}, {0, 10000}};
  setitimer(ITIMER_PROF, &it, NULL);
  while (ticks < 60)
    for (unsigned long i = 0; i < 1000000; ++i) sink += i;
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  struct sigaction back;
  sigaction(SIGPROF, NULL, &back);
  printf("own ticks >= 20, handler %s\n", back.sa_handler == on_prof ? "mine" : "not mine");
  return 0;
}
