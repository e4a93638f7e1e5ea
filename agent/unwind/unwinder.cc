// Stack capture with libunwind. SIGNAL/HOOK CONTEXT: unwind_from_signal and
// unwind_from_hook run inside the SIGPROF handler and allocation/lock hooks. They allocate
// nothing (libunwind's per-thread cache and its mmap'ed pools), take no lock the host can
// hold, and write only into the caller's array. unwinder_init runs in normal context.
#define UNW_LOCAL_ONLY
#include "agent/unwind/unwinder.h"

#include "agent/hook_guard.h"

#include <libunwind.h>
#include <link.h>

#include <time.h>

#include <atomic>
#include <cstring>

namespace profagent {
namespace {

// Executable segments of one loaded object (libprofagent.so, libunwind), found once at init.
constexpr int kMaxAgentRanges = 4;
struct Range {
  uintptr_t lo, hi;
};
struct RangeSet {
  Range ranges[kMaxAgentRanges] = {};
  std::atomic<int> count{0};
  bool only_libprofagent = false;  // skip (leave empty) unless the object is libprofagent.so

  bool contains(uintptr_t pc) const noexcept {
    int n = count.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i)
      if (pc >= ranges[i].lo && pc < ranges[i].hi) return true;
    return false;
  }
};

// constinit: filled by unwinder_init() from the agent's constructor, which runs before this
// library's dynamic initializers (agent/constructor.cc); a dynamic initializer would reset them.
constinit RangeSet g_agent_code;     // libprofagent.so itself (empty when linked into a test)
constinit RangeSet g_unwinder_code;  // libunwind

struct RangeQuery {
  uintptr_t probe;
  RangeSet* out;
};

// dl_iterate_phdr callback: stores the executable segments of the object that contains
// query->probe in query->out.
int find_ranges(dl_phdr_info* info, size_t, void* data) {
  auto* query = static_cast<RangeQuery*>(data);
  Range found_ranges[kMaxAgentRanges];
  int found = 0;
  bool contains_probe = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    uintptr_t hi = lo + ph.p_memsz;
    if (query->probe >= lo && query->probe < hi) contains_probe = true;
    if (found < kMaxAgentRanges) found_ranges[found++] = {lo, hi};
  }
  if (!contains_probe) return 0;
  // Only the injected libprofagent.so is "agent code"; linked into a test executable, the
  // same functions are ordinary program code.
  if (query->out->only_libprofagent &&
      (info->dlpi_name == nullptr || strstr(info->dlpi_name, "libprofagent") == nullptr))
    return 1;
  for (int i = 0; i < found; ++i) query->out->ranges[i] = found_ranges[i];
  query->out->count.store(found, std::memory_order_release);
  return 1;
}

void find_code_of(const void* probe, RangeSet* out) {
  if (out->count.load() != 0) return;
  RangeQuery query{reinterpret_cast<uintptr_t>(probe), out};
  dl_iterate_phdr(find_ranges, &query);
}

// The fork gate (see unwinder.h).
std::atomic<int> g_unwinds_active{0};
std::atomic<bool> g_fork_pending{false};

class UnwindGate {
 public:
  UnwindGate() noexcept {
    g_unwinds_active.fetch_add(1, std::memory_order_seq_cst);
    open_ = !g_fork_pending.load(std::memory_order_seq_cst);
    if (!open_) g_unwinds_active.fetch_sub(1, std::memory_order_seq_cst);
  }
  ~UnwindGate() {
    if (open_) g_unwinds_active.fetch_sub(1, std::memory_order_seq_cst);
  }
  bool open() const noexcept { return open_; }

 private:
  bool open_;
};

}  // namespace

void unwinder_prepare_fork() noexcept {
  g_fork_pending.store(true, std::memory_order_seq_cst);
  // Unwinds take microseconds; one stuck longer (a thread stopped inside one) is not waited
  // for beyond 100 ms.
  for (int i = 0; i < 1000 && g_unwinds_active.load(std::memory_order_seq_cst) != 0; ++i) {
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
}

void unwinder_after_fork() noexcept {
  g_fork_pending.store(false, std::memory_order_seq_cst);
}

bool is_unwinder_pc(uintptr_t pc) noexcept { return g_unwinder_code.contains(pc); }

bool is_agent_pc(uintptr_t pc) noexcept { return g_agent_code.contains(pc); }

void unwinder_init() noexcept {
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
  g_agent_code.only_libprofagent = true;
  find_code_of(reinterpret_cast<const void*>(&unwinder_init), &g_agent_code);
  find_code_of(reinterpret_cast<const void*>(&unw_backtrace), &g_unwinder_code);
  // A first unwind outside any handler: resolves libunwind's lazy bindings and fills its
  // caches, so a handler's first unwind does not do that work.
  uintptr_t pcs[kMaxFrames];
  (void)unwind_from_hook(pcs, kMaxFrames);
  unw_context_t context;
  unw_getcontext(&context);
  unw_cursor_t cursor;
  if (unw_init_local(&cursor, &context) == 0)
    while (unw_step(&cursor) > 0) {
    }
}

// libunwind takes pthread mutexes of its own (its global cache lock), which reach the
// agent's lock hooks through the PLT: every unwind runs "in agent", so those hooks pass
// straight through instead of recording (and unwinding again) while libunwind holds its lock.
int unwind_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept {
  AgentScope scope;
  UnwindGate gate;
  if (!gate.open()) return 0;
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, static_cast<unw_context_t*>(ucontext), UNW_INIT_SIGNAL_FRAME) < 0)
    return 0;
  int n = 0;
  bool exact_pc = true;  // the interrupted frame's PC is not a return address
  while (n < max_frames) {
    unw_word_t ip = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    uintptr_t pc = exact_pc ? ip : ip - 1;
    if (!is_agent_pc(pc)) pcs[n++] = pc;  // agent trampolines never show in a stack
    // The frame after a signal trampoline was interrupted, so its PC is exact too.
    exact_pc = unw_is_signal_frame(&cursor) > 0;
    if (unw_step(&cursor) <= 0) break;
  }
  return n;
}

int unwind_from_hook(uintptr_t* pcs, int max_frames) noexcept {
  AgentScope scope;
  UnwindGate gate;
  if (!gate.open()) return 0;
  // Room for the agent's own frames on top, which are dropped below.
  constexpr int kExtra = 8;
  void* raw[kMaxFrames + kExtra];
  int want = max_frames + kExtra;
  if (want > kMaxFrames + kExtra) want = kMaxFrames + kExtra;
  int got = unw_backtrace(raw, want);
  int n = 0;
  int i = 0;
  // raw[0] is this function's own PC; all others are return addresses.
  while (i < got && is_agent_pc(reinterpret_cast<uintptr_t>(raw[i]) - (i == 0 ? 0 : 1))) ++i;
  for (; i < got && n < max_frames; ++i) {
    uintptr_t pc = reinterpret_cast<uintptr_t>(raw[i]) - 1;
    if (!is_agent_pc(pc)) pcs[n++] = pc;
  }
  return n;
}

}  // namespace profagent

namespace profagent {
// Placeholder until the table walker lands: no frames.
int unwind_thread_from_registers(uintptr_t, uintptr_t, uintptr_t, uintptr_t*, int) noexcept {
  return 0;
}
}  // namespace profagent
