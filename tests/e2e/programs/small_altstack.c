// Gives the main thread an alternate signal stack of SIZE bytes right above an inaccessible
// page (a handler that overflows it faults instead of corrupting memory unseen), then, for
// SECONDS, depending on MODE:
//   burn        burns CPU in burn_on_small_altstack (every agent sample lands on the altstack)
//   malloc      raises SIGUSR1 again and again; its SA_ONSTACK handler allocates and frees
//   autodisarm  the same with an SS_AUTODISARM altstack, the handler also burning 2 ms
//   exit        burns, then its SA_ONSTACK SIGUSR2 handler calls exit(0)
//   exit-in-malloc  allocates and frees in a loop; after SECONDS another thread sends the
//               main thread SIGUSR2, whose SA_ONSTACK handler calls exit(0) (it most often
//               interrupts malloc or free, whose lock the exit dump must then not take on
//               this thread)
// Prints "ok" (exit-in-malloc: nothing) and exits 0 if it survived.
//   small_altstack SIZE SECONDS [MODE]
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "spin_for.h"

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)
#endif

volatile unsigned long sink;

void burn_on_small_altstack(double seconds) { SPIN_FOR(seconds); }

static int g_autodisarm;

void allocate_in_handler(int sig) {
  (void)sig;
  void* p = malloc(100);
  sink += (unsigned long)p;
  free(p);
  if (g_autodisarm) burn_on_small_altstack(0.002);
}

void exit_in_handler(int sig) {
  (void)sig;
  puts("ok");
  exit(0);
}

// No output here: stdio could need malloc, whose lock the interrupted code may hold.
void exit_quietly_in_handler(int sig) {
  (void)sig;
  exit(0);
}

static pthread_t g_main_thread;
static double g_seconds;

static void* send_exit_signal(void* arg) {
  (void)arg;
  struct timespec ts = {(time_t)g_seconds, (long)((g_seconds - (time_t)g_seconds) * 1e9)};
  nanosleep(&ts, NULL);
  pthread_kill(g_main_thread, SIGUSR2);
  return NULL;
}

static void install(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_ONSTACK;
  sigaction(sig, &sa, NULL);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  size_t size = (size_t)atol(argv[1]);
  double seconds = atof(argv[2]);
  const char* mode = argc > 3 ? argv[3] : "burn";
  g_autodisarm = strcmp(mode, "autodisarm") == 0;
  // malloc's and free's first calls (lazy binding saves the whole register state on the
  // stack, glibc's malloc sets itself up) are made here, not on the altstack.
  void* warm = malloc(100);
  sink += (unsigned long)warm;
  free(warm);
  size_t page = 4096, span = page + ((size + page - 1) & ~(page - 1));
  char* mem = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED || mprotect(mem, page, PROT_NONE) != 0) return 3;
  stack_t ss = {.ss_sp = mem + page, .ss_size = size, .ss_flags = g_autodisarm ? SS_AUTODISARM : 0};
  if (sigaltstack(&ss, NULL) != 0) {
    perror("sigaltstack");
    return 3;
  }
  if (strcmp(mode, "malloc") == 0 || g_autodisarm) {
    install(SIGUSR1, allocate_in_handler);
    double end = spin_now_seconds() + seconds;
    while (spin_now_seconds() < end) raise(SIGUSR1);
  } else if (strcmp(mode, "exit-in-malloc") == 0) {
    install(SIGUSR2, exit_quietly_in_handler);
    g_main_thread = pthread_self();
    g_seconds = seconds;
    pthread_t sender;
    pthread_create(&sender, NULL, send_exit_signal, NULL);
    void* keep[64] = {0};
    for (unsigned long i = 0;; ++i) {
      int k = (int)(i % 64);
      free(keep[k]);
      keep[k] = malloc(16 + (i * 7919) % 4000);
      sink += (unsigned long)keep[k];
    }
  } else if (strcmp(mode, "exit") == 0) {
    install(SIGUSR2, exit_in_handler);
    burn_on_small_altstack(seconds);
    raise(SIGUSR2);
    return 4;  // not reached
  } else {
    burn_on_small_altstack(seconds);
  }
  puts("ok");
  return 0;
}
