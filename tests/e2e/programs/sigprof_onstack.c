// The program's own SIGPROF handler with SA_ONSTACK and a sa_mask (SIGUSR1), on an
// alternate signal stack, driven by its own ITIMER_PROF while the agent samples too. Prints
// how often the handler ran on the alternate stack and with SIGUSR1 blocked, as asked.
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static char* alt;
static const size_t kAltSize = 64 * 1024;
static volatile int on_alt, off_alt, masked, unmasked;
static volatile unsigned long sink;

static void on_prof(int sig, siginfo_t* info, void* uc) {
  (void)sig; (void)info; (void)uc;
  char local;
  uintptr_t p = (uintptr_t)&local;
  if (p >= (uintptr_t)alt && p < (uintptr_t)alt + kAltSize) ++on_alt;
  else ++off_alt;
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  if (sigismember(&now, SIGUSR1)) ++masked;
  else ++unmasked;
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void onstack_burn(double seconds) {
  double start = cpu_seconds();
  while (cpu_seconds() - start < seconds)
    for (int i = 0; i < 100000; ++i) sink += i;
}

int main(void) {
  alt = malloc(kAltSize);
  stack_t ss = {.ss_sp = alt, .ss_size = kAltSize, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa = {0};
  sa.sa_sigaction = on_prof;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  sigaction(SIGPROF, &sa, NULL);
  struct itimerval it = {{0, 5000}, {0, 5000}};
  setitimer(ITIMER_PROF, &it, NULL);
  onstack_burn(0.5);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  printf("on_alt %d off_alt %d masked %d unmasked %d\n", on_alt, off_alt, masked, unmasked);
  return 0;
}
