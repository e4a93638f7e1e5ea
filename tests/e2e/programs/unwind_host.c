// A C host for the unwind e2e tests: dlopens the C++ plugin (argv[1]) and either throws N
// exceptions in it ("throw N", prints "caught N ns=<loop wall time>") or ends a thread with
// pthread_exit through the plugin's C++ frames ("exit", prints "thread exited").
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void (*exit_thread)(void);

static void* thread_main(void* arg) {
  (void)arg;
  exit_thread();
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 2;
  }
  if (strcmp(argv[2], "throw") == 0 && argc > 3) {
    int (*throw_many)(int) = (int (*)(int))dlsym(plugin, "plugin_throw_many");
    int n = atoi(argv[3]);
    throw_many(10);  // first throw resolves lazy bindings outside the timed loop
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    int caught = throw_many(n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("caught %d ns=%lld\n", caught, ns);
    return caught == n ? 0 : 1;
  }
  if (strcmp(argv[2], "exit") == 0) {
    exit_thread = (void (*)(void))dlsym(plugin, "plugin_exit_thread");
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0) return 3;
    pthread_join(t, NULL);
    printf("thread exited\n");
    return 0;
  }
  return 2;
}
