// e2e program: allocates non-stop until a SIGALRM handler ends it with exit(0) after 0.2 s (a
// program's timeout handler): the signal often interrupts malloc on the very thread that
// then runs the exit handlers, where the agent's exit dump must not wait for malloc's lock.
// Prints "exited by alarm" from the handler's atexit-registered function. Built twice: the
// _nocfi variant's handler has no unwind information (exit_handlers_nocfi.c).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

#include "allocate_forever.h"

#ifdef HANDLER_WITHOUT_UNWIND_INFO
void exit_from_handler_nocfi(int sig);  // exit_handlers_nocfi.c
#define on_alarm exit_from_handler_nocfi
#else
static void on_alarm(int sig) {
  (void)sig;
  exit(0);
}
#endif

static void say_exited(void) {
  static const char msg[] = "exited by alarm\n";
  (void)!write(1, msg, sizeof msg - 1);
}

int main(void) {
  atexit(say_exited);
  signal(SIGALRM, on_alarm);
  struct itimerval t = {{0, 0}, {0, 200000}};
  setitimer(ITIMER_REAL, &t, NULL);
  allocate_forever();
}
