// A C11-threads program (thrd_create, which glibc starts through an internal pthread_create
// no interposer sees): one thread sleeps in c11_sleeper while main exits after 50 ms. The
// exit dump must still write the threads profile (two threads).
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static int c11_sleeper(void* arg) {
  (void)arg;
  struct timespec long_time = {60, 0};
  for (;;) thrd_sleep(&long_time, NULL);
  return 0;
}

int main(void) {
  thrd_t t;
  if (thrd_create(&t, c11_sleeper, NULL) != thrd_success) return 2;
  struct timespec pause = {0, 50 * 1000 * 1000};
  thrd_sleep(&pause, NULL);
  printf("main exits\n");
  exit(0);
}
