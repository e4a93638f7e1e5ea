// e2e program: uses most of the address space `ulimit -v` gives it. Allocates argv[1] MiB in
// 1 MiB blocks (each touched), stopping at the first malloc that fails, and prints
// "allocated N MiB". Run under a limit, it must reach the same N with the agent as without
// (the agent's own reservations count against the same limit).
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
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
