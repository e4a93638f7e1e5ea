// e2e program: forked children that allocate non-stop and end with _exit from a SIGQUIT
// handler (a server's quick-exit handler): the signal may interrupt malloc on the very
// thread that then calls _exit. The parent signals each child, waits for all (an alarm
// after 20 s reports a hang, exit 3) and prints "children exited N".
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocate_forever.h"

enum { kChildren = 8 };

static void quick_exit_handler(int sig) {
  (void)sig;
  _exit(0);
}

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "hang: a child did not end after _exit in its handler\n";
  write(2, msg, sizeof msg - 1);
  _exit(3);
}

int main(void) {
  pid_t kids[kChildren];
  for (int i = 0; i < kChildren; ++i) {
    kids[i] = fork();
    if (kids[i] == 0) {
      signal(SIGQUIT, quick_exit_handler);
      allocate_forever();
    }
  }
  signal(SIGALRM, on_alarm);
  alarm(20);
  usleep(300000);
  for (int i = 0; i < kChildren; ++i) kill(kids[i], SIGQUIT);
  int exited = 0;
  for (int i = 0; i < kChildren; ++i) {
    int status = 0;
    if (waitpid(kids[i], &status, 0) == kids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0)
      ++exited;
  }
  printf("children exited %d\n", exited);
  return exited == kChildren ? 0 : 1;
}
