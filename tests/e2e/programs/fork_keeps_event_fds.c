// A forking event-loop program: opens epoll and eventfd descriptors (3..14), waits for the
// agent's HTTP server to be up, forks, and the child checks that every one of its
// descriptors is still open (an epoll or eventfd descriptor shares the kernel's anonymous
// inode with the agent's own epoll descriptor). Prints "child: all intact" and exits 0, or
// names the descriptors it lost and exits 1.
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (int i = 0; i < 12; ++i) {
    if (i % 2) eventfd(0, 0);
    else epoll_create1(0);
  }
  usleep(500 * 1000);  // the agent's HTTP server is listening by now
  pid_t pid = fork();
  if (pid == 0) {
    int lost = 0;
    for (int fd = 3; fd < 15; ++fd) {
      if (fcntl(fd, F_GETFD) < 0) {
        printf("child: lost fd %d\n", fd);
        lost = 1;
      }
    }
    if (!lost) printf("child: all intact\n");
    _exit(lost);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
}
