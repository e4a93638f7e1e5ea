// Test program for valgrind_test.cc: prints what running_under_valgrind() answers in the
// process it runs in ("valgrind: yes" or "valgrind: no").
#include <cstdio>

#include "agent/core/valgrind.h"

int main() {
  std::printf("valgrind: %s\n", profagent::running_under_valgrind() ? "yes" : "no");
  return 0;
}
