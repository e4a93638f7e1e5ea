// e2e program: forks children that sleep, and sends each a termination signal right after
// fork() returns, often before the child has run at all (so before any atfork handler in it).
// Each must die of that signal at once: the agent's termination handler in a child that has
// no dump thread yet must not wait for the parent's (the wait is bounded at 5 s).
// Usage: fork_kill_child [children] [signal]; prints "killed K/N, slow S" where slow counts
// children reaped more than 2 s after the kill.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  int children = argc > 1 ? atoi(argv[1]) : 10;
  int sig = argc > 2 ? atoi(argv[2]) : SIGTERM;
  int killed = 0, slow = 0;
  for (int i = 0; i < children; ++i) {
    pid_t pid = fork();
    if (pid < 0) return 2;
    if (pid == 0) {
      sleep(30);
      _exit(0);
    }
    double start = now();
    kill(pid, sig);
    int status;
    if (waitpid(pid, &status, 0) != pid) return 3;
    if (now() - start > 2.0) ++slow;
    if (WIFSIGNALED(status) && WTERMSIG(status) == sig) ++killed;
  }
  printf("killed %d/%d, slow %d\n", killed, children, slow);
  return 0;
}
