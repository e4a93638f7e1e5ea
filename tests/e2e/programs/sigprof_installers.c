// Installs a SIGPROF handler of its own through one of libc's entry points (mode in
// argv[1]: signal, __sysv_signal — what signal() becomes under -std=c11 —, sysv_signal,
// bsd_signal, sigset), runs its own ITIMER_PROF at 100 Hz while burning CPU in installer_burn, and
// prints how many of its own signals its handler saw. One-shot (System V) handlers are
// re-installed from the handler, as such programs do.
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

typedef void (*handler_t)(int);
extern handler_t sysv_signal(int, handler_t);
extern handler_t __sysv_signal(int, handler_t);
extern handler_t bsd_signal(int, handler_t);
extern handler_t sigset(int, handler_t);

static volatile sig_atomic_t seen;
static const char* mode;
static volatile unsigned long sink;

static void install(handler_t h);

static void on_prof(int sig) {
  (void)sig;
  ++seen;
  if (strcmp(mode, "signal") == 0 || strstr(mode, "sysv_signal") != NULL) install(on_prof);
}

static void install(handler_t h) {
  if (strcmp(mode, "signal") == 0) signal(SIGPROF, h);
  else if (strcmp(mode, "sysv_signal") == 0) sysv_signal(SIGPROF, h);
  else if (strcmp(mode, "__sysv_signal") == 0) __sysv_signal(SIGPROF, h);
  else if (strcmp(mode, "bsd_signal") == 0) bsd_signal(SIGPROF, h);
  else sigset(SIGPROF, h);
}

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void installer_burn(double seconds) {
  double start = cpu_seconds();
  while (cpu_seconds() - start < seconds)
    for (int i = 0; i < 100000; ++i) sink += i;
}

int main(int argc, char** argv) {
  mode = argc > 1 ? argv[1] : "signal";
  install(on_prof);
  struct itimerval it = {{0, 10000}, {0, 10000}};
  setitimer(ITIMER_PROF, &it, NULL);
  installer_burn(0.6);
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_PROF, &off, NULL);
  printf("%s handler saw %d\n", mode, (int)seen);
  return 0;
}
