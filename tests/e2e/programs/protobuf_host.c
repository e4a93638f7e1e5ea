// A host program linked against its own "protobuf" (fake_protobuf.c: same-named symbols that
// abort), for the e2e test showing the agent's profile encoding never binds to the host's
// protobuf. Workers burn CPU in host_spin(), allocate in host_alloc() and contend on one
// mutex in host_locked() until its stdin reaches end of file (so the test decides how long,
// whatever the machine's load), then the program exits 0 and prints "done". The test adds
// dumps (interval, HTTP, push) on top.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int fake_protobuf_linked(void);

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned long g_sink;
static volatile int g_stop;
static void* volatile g_keep[64];

__attribute__((noinline)) unsigned long host_spin(unsigned long n) {
  unsigned long x = n;
  for (unsigned long i = 0; i < 100000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  return x;
}

__attribute__((noinline)) void host_alloc(unsigned long i) {
  void* p = malloc(1024 + (i % 13) * 128);
  // Workers share the slots: the exchange gives each old block to exactly one of them
  // (a plain read-then-write let two threads free the same block).
  void* old = __atomic_exchange_n(&g_keep[i % 64], p, __ATOMIC_ACQ_REL);
  free(old);
}

__attribute__((noinline)) void host_locked(unsigned long i) {
  pthread_mutex_lock(&g_lock);
  g_sink += host_spin(i) & 1;
  pthread_mutex_unlock(&g_lock);
}

static void* worker(void* arg) {
  (void)arg;
  for (unsigned long i = 0; !g_stop; ++i) {
    g_sink += host_spin(i);
    host_alloc(i);
    if (i % 2 == 0) host_locked(i);
  }
  return NULL;
}

int main(void) {
  if (fake_protobuf_linked() != 1) return 2;
  pthread_t threads[3];
  for (int i = 0; i < 3; ++i) pthread_create(&threads[i], NULL, worker, NULL);
  char buf[256];
  ssize_t n;
  while ((n = read(0, buf, sizeof buf)) != 0) {
    if (n < 0 && errno != EINTR) return 3;
  }
  g_stop = 1;
  for (int i = 0; i < 3; ++i) pthread_join(threads[i], NULL);
  printf("done\n");
  return 0;
}
