// e2e program: uses most of the address space `ulimit -v` gives it. Allocates argv[1] MiB in
// 1 MiB blocks (each touched), stopping at the first malloc that fails, and prints
// "allocated N MiB". Run under a limit, it must reach the same N with the agent as without
// (the agent's own reservations count against the same limit). With argv[2] (MiB) and argv[3]
// ("setrlimit" or "prlimit"), it first lowers its own RLIMIT_AS to that, the way a program
// caps itself while it runs.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int main(int argc, char** argv) {
  if (argc != 2 && argc != 4) return 2;
  if (argc == 4) {
    struct rlimit limit = {(rlim_t)atol(argv[2]) << 20, (rlim_t)atol(argv[2]) << 20};
    int rc = strcmp(argv[3], "prlimit") == 0 ? prlimit(0, RLIMIT_AS, &limit, NULL)
                                              : setrlimit(RLIMIT_AS, &limit);
    if (rc != 0) {
      perror(argv[3]);
      return 3;
    }
  }
  long want = atol(argv[1]);
  long got = 0;
  for (; got < want; ++got) {
    char* block = malloc(1 << 20);
    if (block == NULL) break;
    block[0] = 1;  // (never freed: the program keeps what it got, to the end)
  }
  printf("allocated %ld MiB\n", got);
  return 0;
}
