// e2e program: threads spin inside an assembly function that has no unwind information and
// runs with a garbage frame pointer, so an unwinder that lands there must fall back to
// walking frame pointers and meets addresses that are not mapped. Usage: corrupt_frame [ms]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// spin_with_bad_frame(n): saves rbp, sets it to an unmapped address, counts n down, restores.
// Deliberately no .cfi directives.
__asm__(
    ".text\n"
    ".globl spin_with_bad_frame\n"
    ".type spin_with_bad_frame, @function\n"
    "spin_with_bad_frame:\n"
    "  push %rbp\n"
    "  movabs $0x00000dead0000000, %rbp\n"
    "1:\n"
    "  sub $1, %rdi\n"
    "  jnz 1b\n"
    "  pop %rbp\n"
    "  ret\n"
    ".size spin_with_bad_frame, .-spin_with_bad_frame\n");
void spin_with_bad_frame(unsigned long n);

static long run_ms = 1500;

static void* worker(void* arg) {
  (void)arg;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    spin_with_bad_frame(2000000);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < run_ms);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc > 1) run_ms = atol(argv[1]);
  pthread_t t[3];
  for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, worker, NULL);
  worker(NULL);
  for (int i = 0; i < 3; ++i) pthread_join(t[i], NULL);
  printf("survived\n");
  return 0;
}
