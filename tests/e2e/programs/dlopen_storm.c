// e2e program: threads dlopen a plugin, call it, and dlclose it in a loop while the agent
// samples at a high rate: a signal landing inside the loader must never hang or crash.
// Usage: dlopen_storm <plugin.so> [threads] [iterations]
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static const char* plugin;
static long iterations = 2000;

static void* storm(void* arg) {
  unsigned long total = 0;
  for (long i = 0; i < iterations; ++i) {
    void* h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
      fprintf(stderr, "dlopen: %s\n", dlerror());
      exit(2);
    }
    unsigned long (*work)(unsigned long) = (unsigned long (*)(unsigned long))dlsym(h, "plugin_work");
    if (work == NULL) {
      fprintf(stderr, "dlsym: %s\n", dlerror());
      exit(2);
    }
    total += work(20000);
    dlclose(h);
  }
  *(unsigned long*)arg = total;
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  plugin = argv[1];
  int threads = argc > 2 ? atoi(argv[2]) : 4;
  if (argc > 3) iterations = atol(argv[3]);
  pthread_t t[16];
  unsigned long results[16];
  for (int i = 0; i < threads && i < 16; ++i) pthread_create(&t[i], NULL, storm, &results[i]);
  for (int i = 0; i < threads && i < 16; ++i) pthread_join(t[i], NULL);
  printf("dlopen storm done\n");
  return 0;
}
