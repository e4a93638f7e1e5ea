// e2e program: the parent starts itself again as "child", which spins inside a
// dl_iterate_phdr callback (holding the loader's lock, so the agent's termination dump waits
// behind it); the parent sends SIGTERM, then SIGINT 100 ms later, and prints
// "died of S": a second termination signal ends the process at once, of that signal, as
// without the agent (the first one's dump is stuck).
#define _GNU_SOURCE
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int spin_in_callback(struct dl_phdr_info* info, size_t size, void* data) {
  (void)info;
  (void)size;
  (void)data;
  for (;;) __asm__ volatile("" ::: "memory");
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) {
    dl_iterate_phdr(spin_in_callback, NULL);
    return 0;
  }
  pid_t c = fork();
  if (c == 0) {
    execl("/proc/self/exe", argv[0], "child", (char*)NULL);
    _exit(99);
  }
  usleep(300000);
  kill(c, SIGTERM);
  usleep(100000);
  kill(c, SIGINT);
  int st = 0;
  waitpid(c, &st, 0);
  printf("died of %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
  return 0;
}
