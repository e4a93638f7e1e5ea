// For the e2e programs that run out of address space on purpose: sets RLIMIT_AS to what the
// process maps now (its VmSize, /proc/self/statm) plus `room_kib` KiB.
#pragma once

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static inline void leave_address_space_room(long room_kib) {
  long pages = 0;
  FILE* statm = fopen("/proc/self/statm", "r");
  if (statm != NULL) {
    if (fscanf(statm, "%ld", &pages) != 1) pages = 0;
    fclose(statm);
  }
  struct rlimit tight = {(rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (rlim_t)room_kib * 1024,
                         RLIM_INFINITY};
  setrlimit(RLIMIT_AS, &tight);
}
