// e2e program: handles SIGTERM itself (prints and exits 7), and reports what sigaction shows
// for SIGINT and SIGHUP, which it leaves alone (they must read as SIG_DFL under the agent).
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_term;
static void on_term(int sig) { (void)sig; got_term = 1; }

int main(void) {
  struct sigaction sa, old_int, old_hup;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  /* SIGTERM blocked except inside sigsuspend: one arriving between the check and the wait
   * cannot be missed. */
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_BLOCK, &term, &old);
  sigaction(SIGINT, NULL, &old_int);
  sigaction(SIGHUP, NULL, &old_hup);
  printf("SIGINT %s, SIGHUP %s\n", old_int.sa_handler == SIG_DFL ? "default" : "changed",
         old_hup.sa_handler == SIG_DFL ? "default" : "changed");
  fflush(stdout);
  while (!got_term) sigsuspend(&old);
  printf("caught SIGTERM\n");
  return 7;
}
