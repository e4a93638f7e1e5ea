// A daemon-like program: closes every descriptor >= 3, then talks to itself through a pipe
// while allocating; prints what came back and whether anything else was in the pipe.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  int max = rl.rlim_cur > 65536 ? 65536 : (int)rl.rlim_cur;
  for (int fd = 3; fd < max; ++fd) close(fd);
  int p[2];
  if (pipe(p) != 0) return 2;
  const char* message = "exactly these bytes";
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 100; ++i) free(malloc(32 + i));  // sampled allocations unwind
    if (write(p[1], message, strlen(message)) != (ssize_t)strlen(message)) return 3;
    char buf[256];
    ssize_t got = read(p[0], buf, strlen(message));
    if (got != (ssize_t)strlen(message) || memcmp(buf, message, got) != 0) {
      printf("round %d: got %zd bytes\n", round, got);
      return 1;
    }
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    ssize_t extra = read(p[0], buf, sizeof buf);
    fcntl(p[0], F_SETFL, 0);
    if (extra >= 0) {
      printf("round %d: %zd stray bytes\n", round, extra);
      return 1;
    }
  }
  printf("ok\n");
  return 0;
}
