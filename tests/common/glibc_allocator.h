// The heap collector's NextAllocator over glibc's own functions, for unit tests that drive the
// sampled-allocation path directly (the agent itself resolves them with dlsym RTLD_NEXT).
#pragma once

#include <malloc.h>

#include <cstdlib>

#include "collectors/heap/heap_alloc.h"

namespace profagent::testing {

inline NextAllocator glibc_allocator() {
  return {&::malloc,        &::free,    &::calloc, &::realloc, &::posix_memalign,
          &::aligned_alloc, &::memalign, &::valloc, &::pvalloc, &::malloc_usable_size};
}

}  // namespace profagent::testing
