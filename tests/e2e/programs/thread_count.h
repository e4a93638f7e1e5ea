// For the e2e programs that report how many threads a process has: the entries of a
// /proc/<pid>/task directory ("/proc/self/task" for the caller's own), -1 if unreadable.
#pragma once

#include <dirent.h>

static inline int threads_in(const char* task_dir) {
  DIR* d = opendir(task_dir);
  if (d == NULL) return -1;
  int n = 0;
  for (struct dirent* e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}
