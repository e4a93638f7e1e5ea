// e2e program: main calls pthread_exit; the last thread first leaves almost no address space
// (RLIMIT_AS = what is mapped now + argv[1] KiB, 1024 by default: no new thread stack of
// 8 MiB fits), prints, and returns.
// The process must end with status 0, as it does without the agent (glibc's last thread
// calls exit(0)), even though the agent can then start no thread to do that for it.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "address_space.h"

static long g_room_kib = 1024;

static void* last(void* arg) {
  (void)arg;
  leave_address_space_room(g_room_kib);
  printf("last thread done\n");
  fflush(stdout);
  return NULL;
}

// glibc's pthread_exit loads libgcc_s at its first call (for the unwind it runs): a thread
// that ends that way first, so main's own pthread_exit needs no room the last thread may
// already have taken away (with the load still to do it aborted: "libgcc_s.so.1 must be
// installed for pthread_exit to work", whenever the last thread got there first).
static void* exits_through_pthread_exit(void* arg) { pthread_exit(arg); }

int main(int argc, char** argv) {
  if (argc > 1) g_room_kib = atol(argv[1]);
  pthread_t warm;
  if (pthread_create(&warm, NULL, exits_through_pthread_exit, NULL) != 0) return 2;
  pthread_join(warm, NULL);
  pthread_t t;
  if (pthread_create(&t, NULL, last, NULL) != 0) return 2;
  pthread_exit(NULL);
}
