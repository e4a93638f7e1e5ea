// e2e program: runs out of address space on purpose and goes on, as a careful C program
// does: a malloc or a thread that fails is handled. argv[1]: the room left, in KiB
// (RLIMIT_AS = what is mapped now + that); argv[2]: "early" (at once, while the agent still
// finishes its start) or "late" (after 100 ms of work, with samples gathered). Then it
// allocates until malloc fails and keeps what it got; for ~300 ms it allocates and frees a
// few blocks (which may fail), takes a lock, starts threads (which may fail) and burns CPU,
// and in its first 3 rounds forks a child that does one round and calls exit(0) (its exit
// dump squeezed); it prints "squeezed ok" and returns 0 from main (the exit dump runs
// squeezed too), or says which child did not end with status 0. Under the agent it must end the same way: the agent's own allocations fail
// there, and an exception of the agent's must never end the program.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "address_space.h"
#include "spin_for.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long g_counter;

static void squeezed_burn(double seconds) { SPIN_FOR(seconds); }

static void* locker(void* arg) {
  (void)arg;
  for (int i = 0; i < 2000; ++i) {
    pthread_mutex_lock(&g_lock);
    ++g_counter;
    pthread_mutex_unlock(&g_lock);
  }
  squeezed_burn(0.02);
  return NULL;
}

// Allocates blocks of 1-64 KiB until malloc fails (or `max` blocks), and frees them unless
// told to keep them (for good: the address space stays used up).
static void allocate_until_full(int max, int keep) {
  static void* blocks[100000];
  int n = 0;
  for (; n < max; ++n) {
    blocks[n] = malloc((size_t)(1 + n % 64) * 1024);
    if (blocks[n] == NULL) break;
    memset(blocks[n], 1, 64);
  }
  if (!keep)
    for (int i = 0; i < n; ++i) free(blocks[i]);
}

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  long room_kib = atol(argv[1]);
  int early = strcmp(argv[2], "early") == 0;
  if (!early) squeezed_burn(0.1);
  leave_address_space_room(room_kib);
  allocate_until_full(100000, 1);
  double end = spin_now_seconds() + 0.3;
  for (int round = 0; spin_now_seconds() < end; ++round) {
    pid_t child = round < 3 ? fork() : -1;
    allocate_until_full(64, 0);
    pthread_t t;
    int started = pthread_create(&t, NULL, locker, NULL) == 0;
    locker(NULL);
    if (started) pthread_join(t, NULL);
    if (child == 0) exit(0);
    int status = 0;
    if (child > 0 && (waitpid(child, &status, 0) != child || status != 0)) {
      printf("child %d ended with status %d\n", round, status);
      return 1;
    }
  }
  printf("squeezed ok\n");
  return 0;
}
