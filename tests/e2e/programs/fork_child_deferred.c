// e2e program: fork children whose dump thread the agent defers until they need one
// (agent/dump_thread.h). argv[1] is the child's life; the parent prints what it saw:
//   exec    the child prints "child threads N" (its own count) and execs /bin/true;
//           the parent prints "exit code C"
//   term    the child waits in pause() (wait_in_child); the parent prints "child threads N",
//           sends SIGTERM and prints how the child ended ("killed by signal S")
//   burn    the child burns 0.5 s of CPU (burn_in_child), then waits; as term
//   dump    the child waits; the parent sends SIGUSR2 (the agent's dump signal), waits up to
//           10 s for a profile of the child's pid in $PROFAGENT_DIR, prints "dumped" (or
//           "no dump") and "child threads N", then ends it as term
//   thread  the child starts a thread that waits; as term
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spin_for.h"
#include "thread_count.h"

static int threads_of_pid(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
  return threads_in(path);
}

__attribute__((noinline)) static void wait_in_child(void) {
  for (;;) pause();
}

__attribute__((noinline)) static void burn_in_child(void) { SPIN_FOR(0.5); }

static void* waiting_thread(void* arg) {
  (void)arg;
  wait_in_child();
  return NULL;
}

static int profile_of(pid_t pid) {
  const char* dir = getenv("PROFAGENT_DIR");
  DIR* d = dir != NULL ? opendir(dir) : NULL;
  if (d == NULL) return 0;
  char needle[32];
  snprintf(needle, sizeof needle, ".%d.", (int)pid);
  int found = 0;
  for (struct dirent* e; (e = readdir(d)) != NULL;)
    if (strstr(e->d_name, needle) != NULL && strstr(e->d_name, ".tmp") == NULL) found = 1;
  closedir(d);
  return found;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "term";
  int ready[2];
  if (pipe(ready) != 0) return 2;
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 2;
  if (child == 0) {
    close(ready[0]);
    if (strcmp(mode, "exec") == 0) {
      printf("child threads %d\n", threads_in("/proc/self/task"));
      fflush(stdout);
      execl("/bin/true", "true", (char*)NULL);
      _exit(127);
    }
    if (strcmp(mode, "burn") == 0) burn_in_child();
    pthread_t t;
    if (strcmp(mode, "thread") == 0) pthread_create(&t, NULL, waiting_thread, NULL);
    if (write(ready[1], "r", 1) != 1) _exit(3);
    wait_in_child();
  }
  close(ready[1]);
  int status = 0;
  if (strcmp(mode, "exec") == 0) {
    waitpid(child, &status, 0);
    printf("exit code %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
  }
  char c;
  if (read(ready[0], &c, 1) != 1) return 2;
  usleep(200 * 1000);  // the child settles in pause(); a thread it starts has started
  if (strcmp(mode, "dump") == 0) {
    kill(child, SIGUSR2);
    int waited = 0;
    while (!profile_of(child) && waited < 10000) usleep(10 * 1000), waited += 10;
    printf(profile_of(child) ? "dumped\n" : "no dump\n");
  }
  printf("child threads %d\n", threads_of_pid(child));
  fflush(stdout);
  kill(child, SIGTERM);
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status))
    printf("killed by signal %d\n", WTERMSIG(status));
  else
    printf("exit code %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}
