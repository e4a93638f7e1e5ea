// Valgrind detection (see valgrind.h): valgrind's documented client-request ABI, written out
// so the build needs no valgrind header. Any context.
#include "agent/core/valgrind.h"
#include "agent/core/code_layout.h"

#include <cstdint>

namespace profagent {

PROFAGENT_START_PATH
bool running_under_valgrind() noexcept {
#if defined(__x86_64__)
  // valgrind.h, amd64-linux: the four rotations of %rdi add up to 128 bits (a no-op on a real
  // CPU) and, followed by `xchg %rbx,%rbx`, form the marker valgrind's JIT turns into the
  // client request whose arguments %rax points at; its answer lands in %rdx, which a real
  // CPU leaves at the default (0). Request 0x1001 is VG_USERREQ__RUNNING_ON_VALGRIND: the
  // number of valgrinds the program runs under.
  volatile uint64_t args[6] = {0x1001, 0, 0, 0, 0, 0};
  uint64_t result = 0;
  __asm__ volatile(
      "rolq $3,  %%rdi ; rolq $13, %%rdi\n\t"
      "rolq $61, %%rdi ; rolq $51, %%rdi\n\t"
      "xchgq %%rbx,%%rbx"
      : "=d"(result)
      : "a"(&args[0]), "0"(result)
      : "cc", "memory");
  return result != 0;
#else
  return false;
#endif
}

}  // namespace profagent
