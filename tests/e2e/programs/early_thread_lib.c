// e2e library: its constructor starts a thread before the program's main (and, as a
// dependency of the program, possibly before the agent's constructor). The thread works for
// 300 ms and ends. Used by early_thread_host.
#include <pthread.h>
#include <unistd.h>

static void* early_work(void* arg) {
  (void)arg;
  usleep(300000);
  return NULL;
}

__attribute__((constructor)) static void start_early_thread(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, early_work, NULL) == 0) pthread_detach(t);
}

__attribute__((visibility("default"))) int early_thread_lib_loaded(void) { return 1; }
