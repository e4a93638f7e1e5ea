// Heap e2e program: allocation sites with known sizes in named functions. Keeps what the
// kept_* sites allocate until exit (the final dump sees it in use); prints "ok" when every
// allocation worked and behaved (zeroed calloc, honoured alignment, realloc kept contents).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MiB (1024 * 1024)

void* volatile g_sink;
static int g_bad;

static void* kept_small[12 * MiB / 256];
static void* kept_large[12];
static void* kept_calloc[12 * MiB / 4096];
static void* kept_aligned[12 * MiB / 8192];
static char* grown;

__attribute__((noinline)) void keep_small_blocks(void) {
  for (size_t i = 0; i < sizeof(kept_small) / sizeof(kept_small[0]); ++i) {
    kept_small[i] = malloc(256);
    memset(kept_small[i], 1, 256);
  }
}

__attribute__((noinline)) void keep_large_blocks(void) {
  for (size_t i = 0; i < 12; ++i) {
    kept_large[i] = malloc(MiB);
    memset(kept_large[i], 2, MiB);
  }
}

__attribute__((noinline)) void churn_malloc_free(void) {
  for (int i = 0; i < 200000; ++i) {
    char* p = malloc(1000);
    p[0] = (char)i;
    g_sink = p;
    free(p);
  }
}

__attribute__((noinline)) void keep_calloc_blocks(void) {
  for (size_t i = 0; i < sizeof(kept_calloc) / sizeof(kept_calloc[0]); ++i) {
    unsigned char* p = calloc(64, 64);
    for (int k = 0; k < 4096; k += 512)
      if (p[k] != 0) g_bad = 1;
    kept_calloc[i] = p;
  }
}

__attribute__((noinline)) void keep_aligned_blocks(void) {
  for (size_t i = 0; i < sizeof(kept_aligned) / sizeof(kept_aligned[0]); ++i) {
    void* p = NULL;
    if (posix_memalign(&p, 64, 8192) != 0 || ((uintptr_t)p & 63) != 0) g_bad = 1;
    memset(p, 3, 8192);
    kept_aligned[i] = p;
  }
}

__attribute__((noinline)) void grow_by_realloc(void) {
  size_t size = 1024;
  grown = malloc(size);
  memset(grown, 7, size);
  while (size < 16 * MiB) {
    size *= 2;
    grown = realloc(grown, size);
    if (grown[size / 2 - 1] != 7) g_bad = 1;
    memset(grown + size / 2, 7, size / 2);
  }
}

int main(void) {
  keep_small_blocks();
  keep_large_blocks();
  churn_malloc_free();
  keep_calloc_blocks();
  keep_aligned_blocks();
  grow_by_realloc();
  printf(g_bad ? "bad\n" : "ok\n");
  return 0;
}
