// e2e program: creates and joins many short-lived threads (each allocates, frees, and takes
// a contended mutex), and reports the process's POSIX timers and RSS before and after, so a
// test can see that the agent leaks neither. Usage: thread_churn [threads]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long shared;

static long count_timers(void) {
  FILE* f = fopen("/proc/self/timers", "r");
  if (f == NULL) return -1;
  long n = 0;
  char line[256];
  while (fgets(line, sizeof line, f) != NULL)
    if (strncmp(line, "ID:", 3) == 0) ++n;
  fclose(f);
  return n;
}

static long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

static void* short_life(void* arg) {
  (void)arg;
  void* blocks[8];
  for (int i = 0; i < 8; ++i) blocks[i] = malloc(64 + i * 512);
  pthread_mutex_lock(&lock);
  for (int i = 0; i < 1000; ++i) shared += (unsigned long)i;
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < 8; ++i) free(blocks[i]);
  return NULL;
}

static void churn(int threads) {
  const int batch = 8;
  for (int done = 0; done < threads; done += batch) {
    pthread_t t[8];
    for (int i = 0; i < batch; ++i) pthread_create(&t[i], NULL, short_life, NULL);
    for (int i = 0; i < batch; ++i) pthread_join(t[i], NULL);
  }
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 20000;
  churn(2000);  // warm-up: allocator arenas, agent tables
  long timers_before = count_timers(), rss_before = rss_kib();
  churn(threads);
  long timers_after = count_timers(), rss_after = rss_kib();
  printf("timers %ld %ld\nrss_kib %ld %ld\n", timers_before, timers_after, rss_before, rss_after);
  return 0;
}
