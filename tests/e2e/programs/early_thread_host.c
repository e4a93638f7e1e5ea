// e2e program: a library constructor started a thread before main; main calls pthread_exit
// at once. The process must end (status 0) when that thread ends, as without the agent.
#include <pthread.h>
#include <stdio.h>

int early_thread_lib_loaded(void);

int main(void) {
  printf("main leaves %d\n", early_thread_lib_loaded());
  fflush(stdout);
  pthread_exit(NULL);
}
