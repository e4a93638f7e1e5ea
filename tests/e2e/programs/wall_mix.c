// Four threads, four ways to spend wall time, for 2 s: main burns CPU in burn(), one thread
// sleeps in nanosleep in nap(), one is blocked in read on a pipe in wait_input(), one waits
// on a condition variable in wait_cond(). Every wait must return normally (no EINTR): exit
// status 3 otherwise.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_pipe[2];
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_done = 0;
static volatile int g_failed = 0;
static volatile unsigned long g_sink;
// How long each function ran, by its own clock (printed at the end: the test compares the
// wall time the profile gives each function with these).
static double g_burn_s, g_nap_s, g_input_s, g_cond_s;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

__attribute__((noinline)) void burn(double seconds) {
  double start = now();
  double end = start + seconds;
  unsigned long x = 1;
  while (now() < end)
    for (int i = 0; i < 10000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  g_sink = x;
  g_burn_s = now() - start;
}

__attribute__((noinline)) void nap(double seconds) {
  double start = now();
  struct timespec ts = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  int r = nanosleep(&ts, NULL);
  g_nap_s = now() - start;
  if (r != 0) {
    fprintf(stderr, "nap: nanosleep failed: %s\n", strerror(errno));
    g_failed = 1;
  }
}

__attribute__((noinline)) void wait_input(void) {
  double start = now();
  char c;
  ssize_t n = read(g_pipe[0], &c, 1);
  g_input_s = now() - start;
  if (n != 1) {
    fprintf(stderr, "wait_input: read returned %zd: %s\n", n, strerror(errno));
    g_failed = 1;
  }
}

__attribute__((noinline)) void wait_cond(void) {
  double start = now();
  pthread_mutex_lock(&g_mutex);
  while (!g_done) {
    int r = pthread_cond_wait(&g_cond, &g_mutex);
    if (r != 0) {
      fprintf(stderr, "wait_cond: pthread_cond_wait: %s\n", strerror(r));
      g_failed = 1;
    }
  }
  pthread_mutex_unlock(&g_mutex);
  g_cond_s = now() - start;
}

static void* napper(void* arg) {
  (void)arg;
  nap(2.0);
  return NULL;
}
static void* reader(void* arg) {
  (void)arg;
  wait_input();
  return NULL;
}
static void* waiter(void* arg) {
  (void)arg;
  wait_cond();
  return NULL;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  if (pipe(g_pipe) != 0) return 2;
  pthread_t t[3];
  pthread_create(&t[0], NULL, napper, NULL);
  pthread_setname_np(t[0], "napper");
  pthread_create(&t[1], NULL, reader, NULL);
  pthread_setname_np(t[1], "reader");
  pthread_create(&t[2], NULL, waiter, NULL);
  pthread_setname_np(t[2], "waiter");
  burn(seconds);
  if (write(g_pipe[1], "x", 1) != 1) g_failed = 1;
  pthread_mutex_lock(&g_mutex);
  g_done = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_mutex);
  for (int i = 0; i < 3; ++i) pthread_join(t[i], NULL);
  printf("burn %.6f\nnap %.6f\nwait_input %.6f\nwait_cond %.6f\ndone\n", g_burn_s, g_nap_s,
         g_input_s, g_cond_s);
  return g_failed ? 3 : 0;
}
