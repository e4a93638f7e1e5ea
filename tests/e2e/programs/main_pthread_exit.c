// Main thread calls pthread_exit while a worker burns CPU; the worker returns last. Without
// the agent glibc then ends the process with status 0 (running atexit handlers).
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void worker_burn(void) {
  for (unsigned long i = 0; i < 150000000ul; ++i) sink += i * 7;
}

static void* worker(void* arg) {
  (void)arg;
  worker_burn();
  return NULL;
}

static void at_exit_message(void) {
  static const char msg[] = "atexit ran\n";
  write(1, msg, sizeof msg - 1);
}

int main(void) {
  atexit(at_exit_message);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0) return 1;
  pthread_exit(NULL);
}
