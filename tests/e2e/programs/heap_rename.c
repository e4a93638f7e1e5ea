// Keeps blocks from one thread under three names: as started ("named-first", prctl), after
// pthread_setname_np on itself, and after prctl(PR_SET_NAME), each from its own function,
// then renames a second thread from the first (pthread_setname_np on another thread). The
// heap profile must label each site with the name the thread had when it allocated.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

static void* volatile g_keep[4096];
static int g_kept;

static void keep(size_t n, size_t size) {
  for (size_t i = 0; i < n; ++i) g_keep[g_kept++ % 4096] = malloc(size);
}

__attribute__((noinline)) void keep_as_first(void) { keep(100, 1000); }
__attribute__((noinline)) void keep_after_setname(void) { keep(100, 1000); }
__attribute__((noinline)) void keep_after_prctl(void) { keep(100, 1000); }
__attribute__((noinline)) void keep_after_renamed_by_other(void) { keep(100, 1000); }

static pthread_barrier_t g_renamed;

static void* other(void* arg) {
  (void)arg;
  prctl(PR_SET_NAME, "other-before");
  keep(10, 1000);  // cache the name
  pthread_barrier_wait(&g_renamed);  // main renames us
  pthread_barrier_wait(&g_renamed);
  keep_after_renamed_by_other();
  return NULL;
}

int main(void) {
  pthread_barrier_init(&g_renamed, NULL, 2);
  pthread_t t;
  if (pthread_create(&t, NULL, other, NULL) != 0) return 2;
  prctl(PR_SET_NAME, "named-first");
  keep_as_first();
  pthread_setname_np(pthread_self(), "named-setname");
  keep_after_setname();
  prctl(PR_SET_NAME, "named-prctl");
  keep_after_prctl();
  pthread_barrier_wait(&g_renamed);
  pthread_setname_np(t, "other-after");
  pthread_barrier_wait(&g_renamed);
  pthread_join(t, NULL);
  printf("ok\n");
  return 0;
}
