// Non-stop malloc/free of varied sizes, for the e2e programs whose signal handlers end them
// while they allocate (the signal often lands inside malloc). allocate_forever() is the
// name the tests look for in their profiles.
#pragma once

#include <stdlib.h>

__attribute__((noinline)) static void allocate_forever(void) {
  void* keep[64] = {0};
  for (unsigned long i = 0;; ++i) {
    unsigned slot = (unsigned)(i * 2654435761u) % 64;
    free(keep[slot]);
    keep[slot] = malloc(16 + (i * 7919) % 4000);
  }
}
