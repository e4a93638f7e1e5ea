// e2e program: a child keeps SIGHUP blocked with one pending (a signalfd-style program that
// reads its signals itself), then waits; the parent sends it SIGTERM and prints "died of S".
// Without the agent it dies of SIGTERM (15): the agent's termination handler must not unblock
// the SIGHUP the program holds while its dump is written.
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  int ready[2];
  if (pipe(ready) != 0) return 2;
  pid_t c = fork();
  if (c == 0) {
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_BLOCK, &hup, NULL);
    raise(SIGHUP);  // pending, held
    (void)!write(ready[1], "r", 1);
    for (;;) pause();
  }
  char r;
  if (read(ready[0], &r, 1) != 1) return 2;
  usleep(100000);
  kill(c, SIGTERM);
  int st = 0;
  waitpid(c, &st, 0);
  printf("died of %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  return 0;
}
