// Threads that block every signal (as liblzma's workers and jemalloc's background threads
// do): one blocks them itself, one inherits the mask from its creator (which blocks all,
// creates it and restores, as xz does). Each burns 1 s of its own CPU time and reports it,
// and checks that a query of its mask shows exactly the mask it set (SIGPROF included). A
// third blocks every signal with the raw system call and burns 0.5 s (raw_blocked_burn).
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static long long thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int mask_is_full(void) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  for (int sig = 1; sig < 32; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP && !sigismember(&now, sig)) return 0;
  return 1;
}

__attribute__((noinline)) static void blocked_burn(void) {
  long long start = thread_cpu_ns();
  while (thread_cpu_ns() - start < 1000000000LL)
    for (int i = 0; i < 10000; ++i) sink += i;
}

__attribute__((noinline)) static void inherited_burn(void) {
  long long start = thread_cpu_ns();
  while (thread_cpu_ns() - start < 1000000000LL)
    for (int i = 0; i < 10000; ++i) sink += i;
}

__attribute__((noinline)) static void raw_blocked_burn(void) {
  long long start = thread_cpu_ns();
  while (thread_cpu_ns() - start < 500000000LL)
    for (int i = 0; i < 10000; ++i) sink += i;
}

static volatile int raw_done;

// Blocks every signal with the raw system call (as runtimes that bypass libc do): no sample
// can be taken; it stays alive (asleep) until the process exits.
static void* blocks_raw(void* arg) {
  (void)arg;
  unsigned long all = ~0ul;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
  raw_blocked_burn();
  printf("blocks_raw cpu_ns %lld\n", thread_cpu_ns());
  fflush(stdout);
  raw_done = 1;
  for (;;) pause();
  return NULL;
}

static void* blocks_itself(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, NULL);
  int ok = mask_is_full();
  blocked_burn();
  printf("blocks_itself cpu_ns %lld mask %s\n", thread_cpu_ns(), ok && mask_is_full() ? "ok" : "wrong");
  return NULL;
}

static void* inherits(void* arg) {
  (void)arg;
  int ok = mask_is_full();
  inherited_burn();
  printf("inherits cpu_ns %lld mask %s\n", thread_cpu_ns(), ok ? "ok" : "wrong");
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, blocks_itself, NULL);
  pthread_join(a, NULL);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_create(&b, NULL, inherits, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_join(b, NULL);
  pthread_t c;
  pthread_create(&c, NULL, blocks_raw, NULL);
  while (!raw_done) {
    struct timespec ms = {0, 1000000};
    nanosleep(&ms, NULL);
  }
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  printf("main sigprof %s\n", sigismember(&now, SIGPROF) ? "blocked" : "open");
  return 0;
}
