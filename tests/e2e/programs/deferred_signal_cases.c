// e2e program: a fork child whose dump thread is still deferred (agent/dump_thread.h) gets
// SIGTERM at a point where the thread cannot start (inside a qsort callback), so the
// signal comes back a millisecond later; within that window the child does argv[1]:
//   thread      starts a thread
//   exec        execs `sleep 1`
//   grandchild  forks a grandchild that ends with _exit(0), SIGTERM held until it is reaped
//               (the parent prints how the grandchild ended: "grandchild exit 0")
//   exit        calls exit(3)
// In every case the child must still die of SIGTERM; the parent prints "child killed by
// signal S" (or "child exit C", or "child still alive" after 5 s, then kills it).
//   deep        the child waits in nanosleep() 2,000 calls deep (deeper than the agent looks),
//               counting the EINTRs it sees (the parent prints "eintr N" and how it ended)
//   handler_exit the child allocates inside a qsort callback and its SIGUSR1 handler, built
//               without unwind information, calls _exit(7) (the parent sends SIGUSR1,
//               prints "child exit 7"); handler_exit_full: the same with exit(7)
//   term_dump, term_int   the parent sends SIGTERM, then, once the child took it (still
//               within its 60 ms in the callback), SIGUSR2 (the agent's dump signal) or
//               SIGINT: the child still dies of SIGTERM
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char* g_mode;
static int g_pipe[2];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void* waiter(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

// Spins 60 ms inside qsort's callback (SIGTERM arrives 20 ms in), then does the mode's thing.
static int compare_in_window(const void* a, const void* b) {
  static int done = 0;
  if (!done) {
    done = 1;
    double end = now() + 0.06;
    while (now() < end) __asm__ volatile("" ::: "memory");
    if (strcmp(g_mode, "thread") == 0) {
      pthread_t t;
      pthread_create(&t, NULL, waiter, NULL);
    } else if (strcmp(g_mode, "exec") == 0) {
      execl("/bin/sleep", "sleep", "1", (char*)NULL);
    } else if (strcmp(g_mode, "grandchild") == 0) {
      // SIGTERM held while the grandchild is reaped, so the child lives to report it.
      sigset_t term, old;
      sigemptyset(&term);
      sigaddset(&term, SIGTERM);
      sigprocmask(SIG_BLOCK, &term, &old);
      pid_t g = fork();
      if (g == 0) _exit(0);
      int st = 0;
      while (waitpid(g, &st, 0) < 0 && errno == EINTR) {
      }
      char line[64];
      int n = snprintf(line, sizeof line, "grandchild %s %d\n", WIFEXITED(st) ? "exit" : "signal",
                       WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
      (void)!write(g_pipe[1], line, (size_t)n);
      sigprocmask(SIG_SETMASK, &old, NULL);
    } else if (strcmp(g_mode, "exit") == 0) {
      exit(3);
    }
  }
  return *(const int*)a - *(const int*)b;
}

__attribute__((noinline)) static int wait_deep(int depth) {
  if (depth > 0) {
    int r = wait_deep(depth - 1);
    __asm__ volatile("" ::: "memory");
    return r + 1;
  }
  for (;;) {
    struct timespec ts = {5, 0};
    if (nanosleep(&ts, NULL) != 0 && errno == EINTR) (void)!write(g_pipe[1], "e", 1);
  }
}

void underscore_exit_from_handler_nocfi(int sig);  // _exit(7), no unwind information
void exit7_from_handler_nocfi(int sig);            // exit(7), no unwind information

static int allocate_in_callback(const void* a, const void* b) {
  void* keep[64] = {0};
  for (unsigned i = 0;; ++i) {
    unsigned k = (i * 2654435761u) >> 26;
    free(keep[k]);
    keep[k] = malloc(16 + (i % 4000));
  }
  return a < b;
}

// SIGTERM still pending for the whole process `pid` (/proc/PID/status ShdPnd, bit 15-1).
static int sigterm_pending_in(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE* f = fopen(path, "r");
  if (f == NULL) return 0;
  unsigned long long mask = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "ShdPnd: %llx", &mask) == 1) break;
  fclose(f);
  return (mask >> (SIGTERM - 1)) & 1;
}

int main(int argc, char** argv) {
  g_mode = argc > 1 ? argv[1] : "thread";
  if (pipe(g_pipe) != 0) return 2;
  pid_t c = fork();
  if (c < 0) return 2;
  if (c == 0) {
    close(g_pipe[0]);
    int v[2] = {2, 1};
    if (strcmp(g_mode, "deep") == 0) wait_deep(2000);
    if (strcmp(g_mode, "handler_exit") == 0 || strcmp(g_mode, "handler_exit_full") == 0) {
      signal(SIGUSR1, strcmp(g_mode, "handler_exit") == 0 ? underscore_exit_from_handler_nocfi
                                                          : exit7_from_handler_nocfi);
      qsort(v, 2, sizeof v[0], allocate_in_callback);
    }
    qsort(v, 2, sizeof v[0], compare_in_window);
    for (;;) pause();
  }
  close(g_pipe[1]);
  usleep(strcmp(g_mode, "deep") == 0 || strncmp(g_mode, "handler_exit", 12) == 0 ? 100000 : 20000);
  kill(c, strncmp(g_mode, "handler_exit", 12) == 0 ? SIGUSR1 : SIGTERM);
  if (strcmp(g_mode, "term_dump") == 0 || strcmp(g_mode, "term_int") == 0) {
    // Only once the child took SIGTERM: both pending at once, the kernel would deliver the
    // lower number first (as it would without the agent).
    while (sigterm_pending_in(c)) usleep(200);
    usleep(2000);
    kill(c, strcmp(g_mode, "term_dump") == 0 ? SIGUSR2 : SIGINT);
  }
  int st = 0, ended = 0;
  for (int i = 0; i < 500 && !ended; ++i) {
    if (waitpid(c, &st, WNOHANG) == c) ended = 1;
    else usleep(10000);
  }
  if (!ended) {
    printf("child still alive\n");
    kill(c, SIGKILL);
    waitpid(c, &st, 0);
    return 0;
  }
  char buf[256];
  ssize_t n = read(g_pipe[0], buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  if (strcmp(g_mode, "deep") == 0) {
    printf("eintr %d\n", (int)(n > 0 ? n : 0));
  } else {
    fputs(buf, stdout);
  }
  if (WIFSIGNALED(st))
    printf("child killed by signal %d\n", WTERMSIG(st));
  else
    printf("child exit %d\n", WEXITSTATUS(st));
  return 0;
}
