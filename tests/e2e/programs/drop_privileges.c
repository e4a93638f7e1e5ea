// e2e program: a root master forks a worker that switches to user and group `nobody`
// (65534) with setgid/setuid, as nginx, postgres and sshd workers do, burns CPU in
// worker_burn() and exits; the master waits for it, says so and exits with the worker's status.
// Usage: drop_privileges
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) void worker_burn(void) {
  unsigned long x = 1;
  for (unsigned long i = 0; i < 300000000UL; ++i) x = x * 6364136223846793005UL + 1;
  sink = x;
}

int main(void) {
  pid_t pid = fork();
  if (pid < 0) return 10;
  if (pid == 0) {
    if (setgid(65534) != 0 || setuid(65534) != 0) {
      perror("drop privileges");
      _exit(11);
    }
    worker_burn();
    printf("worker %d done as uid %d\n", (int)getpid(), (int)getuid());
    exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 12;
  printf("master waited for %d\n", (int)pid);  /* stdio's buffer: an allocation of its own */
  return WIFEXITED(status) ? WEXITSTATUS(status) : 13;
}
