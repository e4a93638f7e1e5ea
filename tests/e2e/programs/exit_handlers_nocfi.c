// Signal handlers of the e2e programs, built WITHOUT unwind information
// (-fno-asynchronous-unwind-tables): the agent's stack walk stops at them, so it must tell
// a handler from normal code another way before it dumps on the exiting thread.
#include <stdlib.h>
#include <unistd.h>

void exit_from_handler_nocfi(int sig) {
  (void)sig;
  exit(0);
}

void underscore_exit_from_handler_nocfi(int sig) {
  (void)sig;
  _exit(7);
}

void exit7_from_handler_nocfi(int sig) {
  (void)sig;
  exit(7);
}
