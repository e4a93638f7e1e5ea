// e2e program: a process started under the agent with no periodic work configured, whose
// dump thread the agent defers when its unwind tables are all in the cache
// (agent/dump_thread.h). It prints "threads N" (its own count) once it has done what
// argv[1] says, then waits in pause() (wait_in_process) until a signal ends it:
//   idle     sleeps 100 ms first
//   burn     burns 0.5 s of CPU (burn_in_process) first
//   handler  installs a SIGTERM handler that calls exit(0) and keeps a 4 MiB block (one
//            heap sample at the default rate) first
//   callback_exit  prints from inside a qsort callback (where no thread may start) and spins
//            there (spin_in_callback) until a byte arrives on stdin (sent after a SIGTERM),
//            then prints "ran on" 20 ms later and calls _exit(3) 20 ms after that: the
//            SIGTERM waits for a point to start the thread at, and must still end the process
//   raise_abort  prints, then raise(SIGTERM); abort(): the process must die of SIGTERM
//   quick    prints and returns 0 at once, as a shell's `true` ends
//   fork_burn  as a shell does: installs a SIGCHLD handler, forks a child that ends at once
//            and waits for it, installs a SIGTERM handler that calls exit(0), then 50 times
//            forks and waits for a child and burns 10 ms of CPU (burn_in_process) first;
//            SIGTERM is blocked from before its line until it waits in sigsuspend(), so the
//            handler's exit() always interrupts that blocked call
// Output goes through write(2): no stdio buffer is allocated.
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "spin_for.h"
#include "thread_count.h"

__attribute__((noinline)) static void wait_in_process(void) {
  for (;;) pause();
}

static void exit_on_term(int sig) {
  (void)sig;
  exit(0);
}

__attribute__((noinline)) static void burn_in_process(double seconds) { SPIN_FOR(seconds); }

static void reap(int sig) { (void)sig; }

static void fork_and_wait(void) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  if (child < 0) _exit(4);
  int status;
  while (waitpid(child, &status, 0) < 0) {
  }
}

static void fork_burn(void) {
  signal(SIGCHLD, reap);
  fork_and_wait();
  signal(SIGTERM, exit_on_term);
  for (int i = 0; i < 50; ++i) {
    fork_and_wait();
    burn_in_process(0.01);
  }
}

static void* volatile kept;

__attribute__((noinline)) static void keep_block(void) {
  kept = malloc(4 << 20);
  memset(kept, 1, 4 << 20);
}

static void print_threads(void) {
  char line[32];
  int n = snprintf(line, sizeof line, "threads %d\n", threads_in("/proc/self/task"));
  if (write(1, line, (size_t)n) != n) _exit(2);
}

__attribute__((noinline)) static int spin_in_callback(const void* a, const void* b) {
  static int done = 0;
  if (!done) {
    done = 1;
    print_threads();
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    char byte;
    double give_up = spin_now_seconds() + 5;
    while (read(0, &byte, 1) != 1 && spin_now_seconds() < give_up) __asm__ volatile("" ::: "memory");
    double start = spin_now_seconds();
    while (spin_now_seconds() < start + 0.02) __asm__ volatile("" ::: "memory");
    if (write(1, "ran on\n", 7) != 7) _exit(2);
    while (spin_now_seconds() < start + 0.04) __asm__ volatile("" ::: "memory");
    _exit(3);
  }
  return *(const int*)a - *(const int*)b;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "idle";
  if (strcmp(mode, "burn") == 0) {
    burn_in_process(0.5);
  } else if (strcmp(mode, "callback_exit") == 0) {
    int v[2] = {2, 1};
    qsort(v, 2, sizeof v[0], spin_in_callback);
  } else if (strcmp(mode, "quick") == 0) {
    print_threads();
    return 0;
  } else if (strcmp(mode, "raise_abort") == 0) {
    print_threads();
    raise(SIGTERM);
    abort();
  } else if (strcmp(mode, "fork_burn") == 0) {
    fork_burn();
    sigset_t term, unblocked;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, &unblocked);
    sigdelset(&unblocked, SIGTERM);
    print_threads();
    for (;;) sigsuspend(&unblocked);
  } else if (strcmp(mode, "handler") == 0) {
    signal(SIGTERM, exit_on_term);
    keep_block();
  } else {
    struct timespec pause_100ms = {0, 100 * 1000 * 1000};
    nanosleep(&pause_100ms, NULL);
  }
  print_threads();
  wait_in_process();
  return 0;
}
