// e2e program: ignores SIGPROF, then execs. "exec": runs sh, which sends itself SIGPROF and
// must live on (exec keeps an ignored signal ignored). "siginfo-exec": the same, SIG_IGN set
// through sigaction with SA_SIGINFO, and first a SIGPROF to itself, which it must survive. "fail": an exec that fails, then 0.3 s
// of CPU in burn_after_failed_exec (the agent's handler must be back: its CPU profile has
// samples there), then exit 0.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) void burn_after_failed_exec(void) {
  clock_t start = clock();
  while (clock() - start < CLOCKS_PER_SEC * 3 / 10) sink = sink * 31 + 7;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "siginfo-exec") == 0) {
    struct sigaction ignore;
    memset(&ignore, 0, sizeof ignore);
    ignore.sa_flags = SA_SIGINFO;
    ignore.sa_handler = SIG_IGN;  // the handler field, whatever the flags
    sigaction(SIGPROF, &ignore, NULL);
    kill(getpid(), SIGPROF);
    execl("/bin/sh", "sh", "-c", "kill -PROF $$; echo alive", (char*)NULL);
    return 2;
  }
  signal(SIGPROF, SIG_IGN);
  if (argc > 1 && strcmp(argv[1], "exec") == 0) {
    execl("/bin/sh", "sh", "-c", "kill -PROF $$; echo alive", (char*)NULL);
    return 2;
  }
  execl("/nonexistent/program", "program", (char*)NULL);
  burn_after_failed_exec();
  struct sigaction now;
  sigaction(SIGPROF, NULL, &now);
  printf("after the failed exec: %s\n", now.sa_handler == SIG_IGN ? "ignored" : "not ignored");
  return 0;
}
