// e2e program: main calls pthread_exit; the last thread first leaves almost no address space
// (RLIMIT_AS = what is mapped now + 1 MiB: no new thread stack fits), prints, and returns.
// The process must end with status 0, as it does without the agent (glibc's last thread
// calls exit(0)), even though the agent can then start no thread to do that for it.
#include <pthread.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static void* last(void* arg) {
  (void)arg;
  long pages = 0;
  FILE* statm = fopen("/proc/self/statm", "r");
  if (statm != NULL) {
    if (fscanf(statm, "%ld", &pages) != 1) pages = 0;
    fclose(statm);
  }
  struct rlimit tight = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (1 << 20), RLIM_INFINITY};
  setrlimit(RLIMIT_AS, &tight);
  printf("last thread done\n");
  fflush(stdout);
  return NULL;
}

int main(void) {
  pthread_t t;
  if (pthread_create(&t, NULL, last, NULL) != 0) return 2;
  pthread_exit(NULL);
}
