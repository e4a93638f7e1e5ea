// e2e program: a SIGALRM handler leaves a CPU loop with siglongjmp to a sigsetjmp(…, 0) point
// (the mask is not restored; the program unblocks SIGALRM itself), 200 times; then the program
// starts its own ITIMER_PROF profiler. Its SIGPROF handler must run, and its mask must hold
// nothing it did not block: a SIGALRM handled while the agent's SIGPROF handler ran would
// leave from inside it and keep SIGPROF blocked for good.
// Prints "own handler ran: yes|no, blocked: <signals the program did not block>".
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf jump;
static volatile int own_ticks;

static void on_alarm(int sig) {
  (void)sig;
  siglongjmp(jump, 1);
}

static void on_prof(int sig) {
  (void)sig;
  ++own_ticks;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);
  sigset_t alarm_only;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  for (int i = 0; i < 200; ++i) {
    if (!sigsetjmp(jump, 0)) {
      ualarm(2000, 0);
      for (volatile unsigned long k = 0;; ++k) {
      }
    }
    sigprocmask(SIG_UNBLOCK, &alarm_only, NULL);
  }
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  char blocked[256] = "";
  for (int s = 1; s < 65; ++s)
    if (sigismember(&now, s)) snprintf(blocked + strlen(blocked), sizeof blocked - strlen(blocked), "%d ", s);
  sa.sa_handler = on_prof;
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval every_10ms = {{0, 10000}, {0, 10000}};
  setitimer(ITIMER_PROF, &every_10ms, NULL);
  clock_t start = clock();
  while (clock() - start < CLOCKS_PER_SEC / 2) {
  }
  printf("own handler ran: %s, blocked: %s\n", own_ticks > 10 ? "yes" : "no", blocked);
  return 0;
}
