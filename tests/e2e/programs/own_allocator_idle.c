// e2e program: a program with its own allocator linked into the executable (a bump allocator
// over one mmap: malloc, calloc, realloc, free, aligned_alloc, posix_memalign, memalign). It
// sleeps 100 ms, prints "threads N" (its own count), then waits in pause() until a signal
// ends it. The agent starts the dump thread of such a process at once (its CPU samples
// would wait undrained: points in the executable cannot be told from its allocator's).
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "thread_count.h"

static char* g_arena;
static size_t g_used;
enum { kArenaBytes = 64 << 20 };

static void* bump(size_t size, size_t alignment) {
  if (g_arena == NULL) {
    void* p = mmap(NULL, kArenaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    g_arena = p;
  }
  size_t at = (g_used + 16 + alignment - 1) & ~(alignment - 1);  // a size header before it
  if (at + size > kArenaBytes) {
    errno = ENOMEM;
    return NULL;
  }
  g_used = at + size;
  ((size_t*)(g_arena + at))[-1] = size;
  return g_arena + at;
}

#define EXPORTED __attribute__((visibility("default")))

EXPORTED void* malloc(size_t size) { return bump(size, 16); }
EXPORTED void free(void* p) { (void)p; }
EXPORTED void* calloc(size_t n, size_t size) { return bump(n * size, 16); }  // fresh: zero
EXPORTED void* realloc(void* p, size_t size) {
  void* q = bump(size, 16);
  if (p != NULL && q != NULL) {
    size_t old = ((size_t*)p)[-1];
    memcpy(q, p, old < size ? old : size);
  }
  return q;
}
EXPORTED void* aligned_alloc(size_t alignment, size_t size) {
  return bump(size, alignment < 16 ? 16 : alignment);
}
EXPORTED void* memalign(size_t alignment, size_t size) { return aligned_alloc(alignment, size); }
EXPORTED int posix_memalign(void** out, size_t alignment, size_t size) {
  *out = aligned_alloc(alignment, size);
  return *out != NULL ? 0 : ENOMEM;
}

int main(void) {
  struct timespec pause_100ms = {0, 100 * 1000 * 1000};
  nanosleep(&pause_100ms, NULL);
  char line[32];
  int len = snprintf(line, sizeof line, "threads %d\n", threads_in("/proc/self/task"));
  if (write(1, line, (size_t)len) != len) return 2;
  for (;;) pause();
}
