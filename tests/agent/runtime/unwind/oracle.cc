// libunwind as the oracle for the walker tests (see oracle.h). Test-only code. libunwind is
// loaded privately (dlopen RTLD_LOCAL), never linked: linked, its _Unwind_* exports would
// take over the test's C++ exceptions from libgcc_s, which is what the agent must not do.
#define UNW_LOCAL_ONLY
#include "tests/agent/runtime/unwind/oracle.h"

#include <dlfcn.h>
#include <libunwind.h>

#include <cstdio>
#include <cstdlib>

namespace profagent::testing {

namespace {

struct Libunwind {
  int (*init_local2)(unw_cursor_t*, unw_context_t*, int);
  int (*get_reg)(unw_cursor_t*, int, unw_word_t*);
  int (*step)(unw_cursor_t*);
  int (*is_signal_frame)(unw_cursor_t*);
  int (*backtrace)(void**, int);
};

const Libunwind& lib() {
  static const Libunwind l = [] {
    Libunwind r{};
    void* h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) abort();
    r.init_local2 = reinterpret_cast<decltype(r.init_local2)>(dlsym(h, "_ULx86_64_init_local2"));
    r.get_reg = reinterpret_cast<decltype(r.get_reg)>(dlsym(h, "_ULx86_64_get_reg"));
    r.step = reinterpret_cast<decltype(r.step)>(dlsym(h, "_ULx86_64_step"));
    r.is_signal_frame =
        reinterpret_cast<decltype(r.is_signal_frame)>(dlsym(h, "_ULx86_64_is_signal_frame"));
    r.backtrace = reinterpret_cast<decltype(r.backtrace)>(dlsym(h, "unw_backtrace"));
    if (!r.init_local2 || !r.get_reg || !r.step || !r.is_signal_frame || !r.backtrace) abort();
    return r;
  }();
  return l;
}

}  // namespace

void load_libunwind() { (void)lib(); }

int libunwind_backtrace(void** out, int max) { return lib().backtrace(out, max); }

int libunwind_from_ucontext(void* ucontext, uintptr_t* pcs, int max_frames) {
  const Libunwind& l = lib();
  unw_cursor_t cursor;
  if (l.init_local2(&cursor, static_cast<unw_context_t*>(ucontext), UNW_INIT_SIGNAL_FRAME) < 0)
    return 0;
  int n = 0;
  while (n < max_frames) {
    unw_word_t ip = 0;
    if (l.get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
    // libunwind marks the frame whose registers it restored from a sigcontext (the one a
    // signal interrupted) as the "signal frame": its IP is exact. (The agent's libunwind
    // loop on old main tested the flag one frame late and shifted the -1 by one frame.)
    bool exact = n == 0 || l.is_signal_frame(&cursor) > 0;
    pcs[n++] = exact ? ip : ip - 1;
    if (l.step(&cursor) <= 0) break;
  }
  return n;
}

std::string describe_pc(uintptr_t pc) {
  Dl_info info{};
  char buf[512];
  if (dladdr(reinterpret_cast<void*>(pc), &info) != 0 && info.dli_sname != nullptr) {
    snprintf(buf, sizeof buf, "%#lx %s+%#lx (%s)", static_cast<unsigned long>(pc), info.dli_sname,
             static_cast<unsigned long>(pc - reinterpret_cast<uintptr_t>(info.dli_saddr)),
             info.dli_fname ? info.dli_fname : "?");
  } else if (info.dli_fname != nullptr) {
    snprintf(buf, sizeof buf, "%#lx ? (%s+%#lx)", static_cast<unsigned long>(pc), info.dli_fname,
             static_cast<unsigned long>(pc - reinterpret_cast<uintptr_t>(info.dli_fbase)));
  } else {
    snprintf(buf, sizeof buf, "%#lx ?", static_cast<unsigned long>(pc));
  }
  return buf;
}

std::string describe_stack(const uintptr_t* pcs, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "    #" + std::to_string(i) + " " + describe_pc(pcs[i]) + "\n";
  return s;
}

}  // namespace profagent::testing
