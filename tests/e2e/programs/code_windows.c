// e2e program: how many 64 KiB windows of libprofagent.so's code, and how many pages of its
// data, a process has touched (agent_pages.c reads its page table). Each is one page fault,
// paid again by every process a shell starts; the code windows by every fork child too, whose
// page table starts empty for the agent's code (agent/core/code_layout.h).
//   start  prints "windows N" for this process, from main: what the agent's start touched
//   fork   forks; the child prints "windows N" (what the agent's fork handlers touched since
//          the fork) and ends with a raw exit_group; the parent waits for it
//   data   prints "data N" at exit, after the agent's exit work (agent_pages.c): the pages
//          of the agent's data (relocated data, .data, .bss and the rest of its zero-filled
//          memory) that its start and its exit touched
//   linger sleeps 200 ms and prints nothing: a run that outlives the agent's start grace, so
//          the unwind tables of every object it maps are in the cache for the next runs
// Only system calls and stack buffers between the measured point and the count: nothing of
// the program's own goes through the agent's hooks (malloc, stdio).
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent_pages.h"

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "linger") == 0) {
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "fork") == 0) {
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      agent_pages_report("windows", agent_code_windows());
      syscall(SYS_exit_group, 0);
    }
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0 : 1;
  }
  if (argc > 1 && strcmp(argv[1], "data") == 0) {
    agent_data_pages_at_exit();
    return 0;
  }
  agent_pages_report("windows", agent_code_windows());
  return 0;
}
