/* Four workers park in a condition variable in park_in_condvar() while main sleeps in
 * sleep_in_main() (threads e2e test). Prints "ready" once every worker is parked, then
 * sleeps until killed (at most 60 s). EINTR from the snapshot signal is expected and
 * handled: the sleep just goes on. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_parked;

__attribute__((noinline)) void park_in_condvar(void) {
  pthread_mutex_lock(&g_mutex);
  ++g_parked;
  for (;;) pthread_cond_wait(&g_cond, &g_mutex);  /* never signalled */
}

static void* worker(void* unused) {
  (void)unused;
  park_in_condvar();
  return NULL;
}

__attribute__((noinline)) void sleep_in_main(void) {
  for (int i = 0; i < 600; ++i) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
}

int main(void) {
  pthread_t threads[4];
  for (int i = 0; i < 4; ++i) pthread_create(&threads[i], NULL, worker, NULL);
  for (;;) {
    pthread_mutex_lock(&g_mutex);
    int parked = g_parked;
    pthread_mutex_unlock(&g_mutex);
    if (parked == 4) break;
    usleep(1000);
  }
  printf("ready\n");
  fflush(stdout);
  sleep_in_main();
  return 0;
}
