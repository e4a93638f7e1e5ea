// Memory for the exceptions of the agent's own C++ runtime (libstdc++ is linked into
// libprofagent.so, hidden): __cxa_allocate_exception and its three siblings. Defined here,
// they keep libstdc++'s eh_alloc.o out of the link, and with it the static constructor that
// malloc'ed a ~72 KiB emergency pool in every process before main (core/exception_reserve.h:
// ~10 us of each `/bin/true`, a program that otherwise never initialises its malloc). Only in
// the shared object: a test binary keeps its own runtime's. Normal context (the agent throws
// in no signal handler and no hook fast path): malloc first, the reserve when malloc fails,
// std::terminate when both do, as libstdc++'s own.
#include <cxxabi.h>

#include <cstdlib>
#include <cstring>
#include <exception>

#include "agent/core/exception_reserve.h"
#include "agent/core/large_bss.h"

// The sizes below are libstdc++'s on x86-64 (unchanged since GCC 4.x); any other target or
// runtime must check them first.
#if !defined(__x86_64__) || !defined(__GLIBCXX__)
#error "cxx_exception_memory.cc knows libstdc++'s exception header sizes on x86-64 only"
#endif

namespace {

// The runtime's header in front of each thrown object, __cxa_refcounted_exception (in
// libstdc++'s internal unwind-cxx.h): 128 bytes on x86-64, as its eh_alloc.cc adds
// ("lea 0x80(%rdi)"); std::rethrow_exception's dependent exception is 112. A wrong figure
// fails every exception the agent throws (the unit tests' throwing code runs in the test
// binary, but e2e tests make the agent throw and catch under a full address space:
// RobustnessE2E.ProgramOutOfAddressSpaceEndsAsItDoesWithoutTheAgent).
constexpr size_t kHeaderBytes = 128;
constexpr size_t kDependentBytes = 112;

// (Constant-initialised: zeros, no constructor that would touch its page at load.)
constinit PROFAGENT_LARGE_BSS profagent::ExceptionReserve g_reserve;

// `size` bytes whose first `header` are zero.
void* allocate(size_t size, size_t header) noexcept {
  if (void* block = malloc(size); block != nullptr) {
    memset(block, 0, header);
    return block;
  }
  void* block = g_reserve.take(size);  // (zeroed)
  if (block == nullptr) std::terminate();
  return block;
}

void release(void* block) noexcept {
  if (!g_reserve.give_back(block)) free(block);
}

}  // namespace

namespace __cxxabiv1 {

extern "C" void* __cxa_allocate_exception(size_t thrown_size) noexcept {
  return static_cast<char*>(allocate(thrown_size + kHeaderBytes, kHeaderBytes)) + kHeaderBytes;
}

extern "C" void __cxa_free_exception(void* thrown_object) noexcept {
  release(static_cast<char*>(thrown_object) - kHeaderBytes);
}

extern "C" __cxa_dependent_exception* __cxa_allocate_dependent_exception() noexcept {
  return static_cast<__cxa_dependent_exception*>(allocate(kDependentBytes, kDependentBytes));
}

extern "C" void __cxa_free_dependent_exception(__cxa_dependent_exception* exception) noexcept {
  release(exception);
}

}  // namespace __cxxabiv1
