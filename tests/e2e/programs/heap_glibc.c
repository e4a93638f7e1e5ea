// Heap e2e program: glibc allocating and freeing through the interposed symbols on its own
// (getline, open_memstream, strdup, asprintf, stdio buffers, qsort, scandir), and a forked
// child that keeps allocating. Prints a checksum that must not depend on the agent.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long hash(unsigned long h, const char* s, size_t n) {
  for (size_t i = 0; i < n; ++i) h = h * 131 + (unsigned char)s[i];
  return h;
}

static int cmp(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

__attribute__((noinline)) unsigned long glibc_work(const char* path) {
  unsigned long h = 0;
  // getline grows its buffer with realloc inside glibc.
  FILE* f = fopen(path, "w+");
  for (int i = 0; i < 2000; ++i) fprintf(f, "line %d %0*d\n", i, i % 300, i);
  rewind(f);
  char* line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) h = hash(h, line, (size_t)n);
  free(line);
  fclose(f);
  // open_memstream: glibc reallocs the buffer, the caller frees it.
  char* buf = NULL;
  size_t len = 0;
  FILE* m = open_memstream(&buf, &len);
  for (int i = 0; i < 5000; ++i) fprintf(m, "%d,", i);
  fclose(m);
  h = hash(h, buf, len);
  free(buf);
  // strdup / asprintf / qsort of duplicated strings.
  char* words[500];
  for (int i = 0; i < 500; ++i) {
    char* s;
    if (asprintf(&s, "w%05d", (i * 7919) % 500) < 0) return 0;
    words[i] = strdup(s);
    free(s);
  }
  qsort(words, 500, sizeof(words[0]), cmp);
  for (int i = 0; i < 500; ++i) {
    h = hash(h, words[i], strlen(words[i]));
    free(words[i]);
  }
  // scandir allocates the list and each entry; the caller frees them.
  struct dirent** list;
  int k = scandir("/", &list, NULL, alphasort);
  for (int i = 0; i < k; ++i) free(list[i]);
  if (k >= 0) free(list);
  return h;
}

void* volatile g_kept[64];

__attribute__((noinline)) void child_work(void) {
  for (int i = 0; i < 20000; ++i) {
    void* p = malloc(100 + i % 500);
    memset(p, 1, 100);
    free(p);
  }
  for (int i = 0; i < 64; ++i) g_kept[i] = malloc(4096);
}

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/tmp/heap_glibc.txt";
  unsigned long h = glibc_work(path);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    child_work();
    unsigned long hc = glibc_work(path);
    exit(hc == h ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  unlink(path);
  printf("hash %lu child %d\n", h, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}
