// A library whose constructor burns CPU in burn_in_constructor for 0.3 s, then calls
// exit(3): the exit dump then runs on a thread that holds the loader's lock (it is inside
// dlopen). Loaded by exit_in_constructor.
#include <stdlib.h>

#include "spin_for.h"

void burn_in_constructor(double seconds) { SPIN_FOR(seconds); }

__attribute__((constructor)) static void exit_while_loading(void) {
  burn_in_constructor(0.3);
  exit(3);
}
