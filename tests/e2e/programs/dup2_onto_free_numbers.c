// e2e program: what a shell's `exec 3>>log ... exec 3>&-` does, in a loop: dup2() its own file
// onto descriptors 3-6 (numbers it never opened, so ones the agent's threads could be using),
// writes one byte through each, closes it. Every write must succeed and the file must hold
// exactly the bytes written: no EBADF (the agent closing a number the program now owns) and
// no foreign bytes (a dump written through a number the program took over).
// Then, for 30 ms: open() must keep returning 3, the lowest free number.
// Usage: dup2_onto_free_numbers SECONDS FILE. Prints "writes W, failed F, file B bytes,
// open gave 3: K of N".
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  double seconds = atof(argv[1]);
  int file = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  int own = fcntl(file, F_DUPFD_CLOEXEC, 20);  // kept far from the numbers it juggles
  close(file);
  // The lowest free number stays 3 while the program opens and closes one file at a time.
  long lowest = 0, opens = 0;
  for (double end = now() + 0.03; now() < end; ++opens) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd == 3) ++lowest;
    close(fd);
  }
  long writes = 0, failed = 0;
  for (double end = now() + seconds; now() < end;) {
    for (int k = 3; k <= 6; ++k) {
      dup2(own, k);
      if (write(k, "x", 1) == 1) ++writes; else ++failed;
      close(k);
    }
  }
  struct stat st;
  fstat(own, &st);
  printf("writes %ld, failed %ld, file %ld bytes, open gave 3: %ld of %ld\n", writes, failed,
         (long)st.st_size, lowest, opens);
  return 0;
}
