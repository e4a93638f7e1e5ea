// Busy work for the e2e programs that burn CPU in a function named for the tests to find.
// SPIN_FOR(seconds) burns in the function that uses it: a macro, not a helper, so every CPU
// sample's leaf is that function (the tests' flat checks name it), with no inline frame in
// between. spin_now_seconds(): CLOCK_MONOTONIC in seconds.
#pragma once

#include <time.h>

static inline double spin_now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static volatile unsigned long spin_sink;

#define SPIN_FOR(seconds)                                                                   \
  do {                                                                                      \
    double spin_end_ = spin_now_seconds() + (seconds);                                      \
    unsigned long spin_x_ = 1;                                                              \
    while (spin_now_seconds() < spin_end_)                                                  \
      for (int spin_i_ = 0; spin_i_ < 100000; ++spin_i_)                                    \
        spin_x_ = spin_x_ * 6364136223846793005ul + 1442695040888963407ul;                  \
    spin_sink = spin_x_;                                                                    \
  } while (0)
