// A system call made in line, without libc's syscall() wrapper. SIGNAL/HOOK-SAFE: registers
// only; errno is never touched. Returns the kernel's result: -errno on failure.
//
// For the paths a shell's fork child runs before its exec (code_layout.h): libc's syscall()
// lies on a page of libc's code the child would not touch otherwise, one more page fault in
// every command a profiled shell runs. Elsewhere syscall() is as good.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace profagent {

#if defined(__x86_64__)
__attribute__((always_inline)) inline long raw_syscall(long number, long a1 = 0, long a2 = 0,
                                                      long a3 = 0, long a4 = 0) noexcept {
  long result;
  register long r10 __asm__("r10") = a4;
  __asm__ volatile("syscall"
                   : "=a"(result)
                   : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                   : "rcx", "r11", "memory");
  return result;
}
#else
inline long raw_syscall(long number, long a1 = 0, long a2 = 0, long a3 = 0,
                        long a4 = 0) noexcept {
  const int saved = errno;
  long result = syscall(number, a1, a2, a3, a4);
  if (result == -1) result = -errno;
  errno = saved;
  return result;
}
#endif

}  // namespace profagent
