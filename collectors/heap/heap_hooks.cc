// The malloc-family interposers (malloc, free, calloc, realloc, reallocarray, posix_memalign,
// aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size) and the dlsym bootstrap.
// HOOK CONTEXT, on every allocation of the host: the fast paths are the inline sampler
// countdown (heap_sampler.h) and, in free, one range compare against the sampled-object
// region plus one against the bootstrap arena; no lock, no shared write, errno untouched.
// Only in libprofagent.so (hook_sources), never in unit tests.
#include <sched.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/core/code_layout.h"
#include "agent/core/large_bss.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/thread_start_point.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/runtime/hook_guard.h"
#include "collectors/heap/boot_arena.h"
#include "collectors/heap/heap_alloc.h"
#include "collectors/heap/heap_recorder.h"
#include "collectors/heap/heap_sampler.h"
#include "agent/core/next_symbol.h"

extern "C" {
void* __libc_malloc(size_t) noexcept;
void __libc_free(void*) noexcept;
void* __libc_calloc(size_t, size_t) noexcept;
void* __libc_realloc(void*, size_t) noexcept;
void* __libc_memalign(size_t, size_t) noexcept;
void* __libc_valloc(size_t) noexcept;
void* __libc_pvalloc(size_t) noexcept;
}

namespace profagent {
namespace {

// ---- Bootstrap arena (boot_arena.h): dlsym's allocations while the real functions are
// looked up, and the agent's own until the program's first allocation looks them up. In
// .lbss: only the pages it hands out are ever touched.
constexpr size_t kArenaBytes = 256 * 1024;
alignas(4096) PROFAGENT_LARGE_BSS char g_arena_memory[kArenaBytes];
constinit BootArena g_arena(g_arena_memory, kArenaBytes);

// (g_arena.owns(p), with the block's address and size as constants: one subtraction and one
// compare in free's fast path, no load.)
inline bool arena_owns(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_arena_memory) <
         kArenaBytes;
}
// (With the start's code: every allocation of the agent's start comes here.)
PROFAGENT_START_PATH void* arena_alloc(size_t size, size_t alignment) {
  return g_arena.allocate(size, alignment);
}
size_t arena_size(const void* p) { return BootArena::size_of(p); }
// free's arena branch: the start's temporaries (boot_arena.h). Out of line, with the start.
__attribute__((noinline)) PROFAGENT_START_PATH void arena_free(void* p) { g_arena.release(p); }

// ---- Real functions, resolved on first use.
std::atomic<int> g_resolve_state{0};  // 0 unresolved, 1 resolving, 2 done
constinit thread_local bool t_resolving __attribute__((tls_model("initial-exec"))) = false;

void* boot_malloc(size_t) noexcept;
void boot_free(void*) noexcept;
void* boot_calloc(size_t, size_t) noexcept;
void* boot_realloc(void*, size_t) noexcept;
int boot_posix_memalign(void**, size_t, size_t) noexcept;
void* boot_aligned_alloc(size_t, size_t) noexcept;
void* boot_memalign(size_t, size_t) noexcept;
void* boot_valloc(size_t) noexcept;
void* boot_pvalloc(size_t) noexcept;
size_t boot_malloc_usable_size(void*) noexcept;

constinit NextAllocator g_next = {
    boot_malloc,  boot_free,   boot_calloc, boot_realloc,
    boot_posix_memalign, boot_aligned_alloc, boot_memalign, boot_valloc,
    boot_pvalloc, boot_malloc_usable_size,
};

template <typename F>
F lookup(const char* name, F fallback) {
  void* f = next_symbol(name);
  return f != nullptr ? reinterpret_cast<F>(f) : fallback;
}

int fallback_posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

// True once g_next holds the real functions; false on the thread that is resolving them
// (its nested calls are served from the arena).
PROFAGENT_START_PATH bool resolve() noexcept {
  if (g_resolve_state.load(std::memory_order_acquire) == 2) return true;
  if (t_resolving) return false;
  int expected = 0;
  if (g_resolve_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
    t_resolving = true;
    int saved_errno = errno;
    NextAllocator n;
    n.malloc = lookup("malloc", &__libc_malloc);
    n.free = lookup("free", &__libc_free);
    n.calloc = lookup("calloc", &__libc_calloc);
    n.realloc = lookup("realloc", &__libc_realloc);
    n.posix_memalign = lookup("posix_memalign", &fallback_posix_memalign);
    n.aligned_alloc = lookup("aligned_alloc", &__libc_memalign);
    n.memalign = lookup("memalign", &__libc_memalign);
    n.valloc = lookup("valloc", &__libc_valloc);
    n.pvalloc = lookup("pvalloc", &__libc_pvalloc);
    n.malloc_usable_size = lookup<size_t (*)(void*) noexcept>("malloc_usable_size", nullptr);
    g_next = n;
    const void* entries[] = {reinterpret_cast<const void*>(n.malloc),
                             reinterpret_cast<const void*>(n.free),
                             reinterpret_cast<const void*>(n.calloc),
                             reinterpret_cast<const void*>(n.realloc),
                             reinterpret_cast<const void*>(n.posix_memalign),
                             reinterpret_cast<const void*>(n.aligned_alloc),
                             reinterpret_cast<const void*>(n.memalign),
                             reinterpret_cast<const void*>(n.valloc),
                             reinterpret_cast<const void*>(n.pvalloc),
                             reinterpret_cast<const void*>(n.malloc_usable_size)};
    note_allocator_entry_points(entries, sizeof entries / sizeof entries[0]);
    errno = saved_errno;
    t_resolving = false;
    g_resolve_state.store(2, std::memory_order_release);
    return true;
  }
  while (g_resolve_state.load(std::memory_order_acquire) != 2) sched_yield();
  return true;
}

// Set by the program's first malloc or calloc (the slow path sees it: until then the hooks'
// countdown stays exhausted, as the agent's own allocations leave it as it is).
std::atomic<bool> g_program_allocated{false};

// Whether an allocation by `caller` comes from the arena: the agent's own (inside an
// AgentScope, or called from the agent's code: libstdc++'s static initializers run outside
// any) until the program's first allocation started the real allocator. The real functions
// are looked up first all the same, at the agent's first allocation (its start, on a normal
// stack): the program's first allocation may come from a signal handler on a small
// altstack, where a dlsym would not fit. A call from the program marks the end.
PROFAGENT_START_PATH bool agent_allocation_before_program(const void* caller) noexcept {
  if (g_program_allocated.load(std::memory_order_relaxed)) return false;
  if (in_agent() || is_agent_pc(reinterpret_cast<uintptr_t>(caller))) return resolve();
  g_program_allocated.store(true, std::memory_order_relaxed);
  return false;
}

PROFAGENT_START_PATH
void* boot_malloc(size_t n) noexcept { return resolve() ? g_next.malloc(n) : arena_alloc(n, 16); }
void boot_free(void* p) noexcept {
  if (resolve()) g_next.free(p);
}
void* boot_calloc(size_t c, size_t n) noexcept {
  if (resolve()) return g_next.calloc(c, n);
  size_t total;
  return __builtin_mul_overflow(c, n, &total) ? nullptr : arena_alloc(total, 16);
}
void* boot_realloc(void* p, size_t n) noexcept {
  if (resolve()) return g_next.realloc(p, n);
  void* q = arena_alloc(n, 16);
  if (q != nullptr && p != nullptr) {
    size_t old = arena_owns(p) ? arena_size(p) : 0;
    memcpy(q, p, old < n ? old : n);
  }
  return q;
}
int boot_posix_memalign(void** out, size_t a, size_t n) noexcept {
  if (resolve()) return g_next.posix_memalign(out, a, n);
  void* p = arena_alloc(n, a);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* boot_aligned_alloc(size_t a, size_t n) noexcept {
  return resolve() ? g_next.aligned_alloc(a, n) : arena_alloc(n, a);
}
void* boot_memalign(size_t a, size_t n) noexcept {
  return resolve() ? g_next.memalign(a, n) : arena_alloc(n, a);
}
void* boot_valloc(size_t n) noexcept { return resolve() ? g_next.valloc(n) : arena_alloc(n, 4096); }
void* boot_pvalloc(size_t n) noexcept {
  return resolve() ? g_next.pvalloc(n) : arena_alloc(heap_pvalloc_size(n), 4096);
}
size_t boot_malloc_usable_size(void* p) noexcept {
  if (resolve()) return g_next.malloc_usable_size != nullptr ? g_next.malloc_usable_size(p) : 0;
  return 0;
}

// Slow halves of the hooks, out of line so each hook's fast path is a frameless tail call.
#define SLOW __attribute__((noinline, cold))

// `caller`: malloc's return address. The agent's own C++ runtime (libstdc++ is linked into
// libprofagent.so) may allocate outside any AgentScope (its static initialisers run after the
// agent's constructor armed this hook; libstdc++'s 71 KiB exception pool was one, until
// agent/cxx_exception_memory.cc kept it out): an allocation called from the agent's code is
// never the program's.
// The sampled path (and the walk, the recorder) sit with the other sample-path code
// (agent/core/sample_path.h), not with the cold code: at the default rate each sample runs
// on cold caches.
__attribute__((noinline)) PROFAGENT_SAMPLE_PATH
void* malloc_slow(size_t n, const void* caller) noexcept {
  if (__builtin_expect(agent_allocation_before_program(caller), 0))
    if (void* p = arena_alloc(n, 16)) return p;
  if (!t_heap_sampler.record_allocation_slow(n) ||
      is_agent_pc(reinterpret_cast<uintptr_t>(caller)))
    return g_next.malloc(n);
  return heap_sampled_malloc(g_next, g_heap_recorder, n);
}

SLOW void* calloc_slow(size_t count, size_t size, size_t total, const void* caller) noexcept {
  if (agent_allocation_before_program(caller))
    if (void* p = arena_alloc(total, 16)) return p;  // (zero memory)
  if (!t_heap_sampler.record_allocation_slow(total)) return g_next.calloc(count, size);
  return heap_sampled_calloc(g_next, g_heap_recorder, count, size);
}

SLOW void* arena_realloc(void* p, size_t n) noexcept {
  if (n == 0) {  // realloc(p, 0) frees p
    arena_free(p);
    return nullptr;
  }
  void* q = malloc(n);
  if (q != nullptr) {
    size_t old = arena_size(p);
    memcpy(q, p, old < n ? old : n);
    arena_free(p);  // (taken back only if p is still the last block: q came from elsewhere)
  }
  return q;
}

SLOW void* realloc_slow(void* p, size_t n) noexcept {
  if (arena_owns(p)) return arena_realloc(p, n);
  bool sample = (n != 0 || p == nullptr) && t_heap_sampler.record_allocation(n);
  if (!sample && !g_heap_recorder.owns(p)) return g_next.realloc(p, n);
  return heap_realloc(g_next, g_heap_recorder, p, n, sample);
}

inline void* do_realloc(void* p, size_t n) noexcept {
  // Fast: an unsampled pointer that stays unsampled (no arena, no region, countdown left).
  if (__builtin_expect(!arena_owns(p) && !g_heap_recorder.owns(p) && n != 0 &&
                           t_heap_sampler.try_record_allocation_fast(n),
                       1))
    return g_next.realloc(p, n);
  return realloc_slow(p, n);
}

SLOW int posix_memalign_slow(void** out, size_t alignment, size_t size) noexcept {
  if (!t_heap_sampler.record_allocation_slow(size))
    return g_next.posix_memalign(out, alignment, size);
  return heap_sampled_posix_memalign(g_next, g_heap_recorder, out, alignment, size);
}

SLOW void* aligned_slow(AlignedKind kind, size_t alignment, size_t size, size_t counted) noexcept {
  if (!t_heap_sampler.record_allocation_slow(counted)) {
    switch (kind) {
      case AlignedKind::kAlignedAlloc: return g_next.aligned_alloc(alignment, size);
      case AlignedKind::kMemalign: return g_next.memalign(alignment, size);
      case AlignedKind::kValloc: return g_next.valloc(size);
      case AlignedKind::kPvalloc: return g_next.pvalloc(size);
    }
  }
  return heap_sampled_aligned(g_next, g_heap_recorder, kind, alignment, size);
}

SLOW void free_slow(void* p) noexcept { g_heap_recorder.free(p); }

}  // namespace
}  // namespace profagent

using profagent::g_heap_recorder;
using profagent::g_next;
using profagent::t_heap_sampler;
using profagent::AlignedKind;

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
void* malloc(size_t n) noexcept {
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(n), 1)) return g_next.malloc(n);
  return profagent::malloc_slow(n, __builtin_return_address(0));
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
void free(void* p) noexcept {
  if (__builtin_expect(!g_heap_recorder.owns(p), 1)) {
    if (__builtin_expect(!profagent::arena_owns(p), 1)) return g_next.free(p);
    return profagent::arena_free(p);  // a bootstrap arena block (the agent's, at its start)
  }
  profagent::free_slow(p);
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
void* calloc(size_t count, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) return g_next.calloc(count, size);
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(total), 1))
    return g_next.calloc(count, size);
  return profagent::calloc_slow(count, size, total, __builtin_return_address(0));
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
void* realloc(void* p, size_t n) noexcept { return profagent::do_realloc(p, n); }

PROFAGENT_HOOK void* reallocarray(void* p, size_t count, size_t size) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return profagent::do_realloc(p, total);
}

PROFAGENT_HOOK int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(size), 1))
    return g_next.posix_memalign(out, alignment, size);
  return profagent::posix_memalign_slow(out, alignment, size);
}

PROFAGENT_HOOK void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(size), 1))
    return g_next.aligned_alloc(alignment, size);
  return profagent::aligned_slow(AlignedKind::kAlignedAlloc, alignment, size, size);
}

PROFAGENT_HOOK void* memalign(size_t alignment, size_t size) noexcept {
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(size), 1))
    return g_next.memalign(alignment, size);
  return profagent::aligned_slow(AlignedKind::kMemalign, alignment, size, size);
}

PROFAGENT_HOOK void* valloc(size_t size) noexcept {
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(size), 1))
    return g_next.valloc(size);
  return profagent::aligned_slow(AlignedKind::kValloc, 4096, size, size);
}

PROFAGENT_HOOK void* pvalloc(size_t size) noexcept {
  size_t counted = profagent::heap_pvalloc_size(size);
  if (__builtin_expect(t_heap_sampler.try_record_allocation_fast(counted), 1))
    return g_next.pvalloc(size);
  return profagent::aligned_slow(AlignedKind::kPvalloc, 4096, size, counted);
}

PROFAGENT_HOOK size_t malloc_usable_size(void* p) noexcept {
  if (__builtin_expect(profagent::arena_owns(p), 0)) return profagent::arena_size(p);
  return profagent::heap_usable_size(g_next, g_heap_recorder, p);
}
