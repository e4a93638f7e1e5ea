// dlopen()s the library named by argv[1] on a thread with a 256 KiB stack; the library's
// constructor calls exit(3) (exit_in_constructor_plugin.c). Under the agent that exit's dump
// runs on a fresh stack of the same thread, which keeps the loader's lock it holds.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

static void* load(void* path) {
  void* handle = dlopen((const char*)path, RTLD_NOW);
  fprintf(stderr, "dlopen returned: %s\n", handle ? "a handle" : dlerror());
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  pthread_create(&thread, &attr, load, argv[1]);
  pthread_join(thread, NULL);
  return 0;
}
