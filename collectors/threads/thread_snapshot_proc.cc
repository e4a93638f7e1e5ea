// /proc readers and parsers for the threads snapshot (see thread_snapshot_proc.h). Normal
// context; files are read with read_task_file (thread_registry.h): O_CLOEXEC, closed at once.
#include "collectors/threads/thread_snapshot_proc.h"

#include <cerrno>
#include <cstring>

#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t'; }

// Reads one decimal (optionally negative) or 0x-hex number at *p, skipping leading blanks.
bool next_number(const char*& p, const char* end, bool hex, uint64_t* value, bool* negative) {
  while (p < end && is_space(*p)) ++p;
  if (p >= end) return false;
  bool neg = false;
  if (!hex && *p == '-') {
    neg = true;
    ++p;
  }
  if (hex) {
    if (end - p < 3 || p[0] != '0' || (p[1] != 'x' && p[1] != 'X')) return false;
    p += 2;
  }
  uint64_t v = 0;
  int digits = 0;
  for (; p < end && !is_space(*p); ++p, ++digits) {
    int d;
    char c = *p;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    if (digits >= (hex ? 16 : 19)) return false;
    v = v * (hex ? 16 : 10) + static_cast<uint64_t>(d);
  }
  if (digits == 0) return false;
  *value = v;
  if (negative != nullptr) *negative = neg;
  else if (neg) return false;
  return true;
}

bool only_blanks_left(const char* p, const char* end) {
  while (p < end && is_space(*p)) ++p;
  return p == end;
}

// Reads a small /proc file of thread `tid` into buf (NUL-terminated), its length in *length.
ProcRead read_thread_file(pid_t tid, const char* name, char* buf, size_t size, size_t* length) {
  int error = read_task_file(tid, name, buf, size, length);
  if (error == 0) return ProcRead::kOk;
  return error == ENOENT || error == ESRCH ? ProcRead::kGone : ProcRead::kUnreadable;
}

}  // namespace

bool ThreadSyscall::same_wait(const ThreadSyscall& o) const noexcept {
  if (kind != o.kind || nr != o.nr || sp != o.sp || pc != o.pc) return false;
  for (int i = 0; i < 6; ++i)
    if (args[i] != o.args[i]) return false;
  return true;
}

bool parse_thread_syscall(const char* text, size_t length, ThreadSyscall* out) noexcept {
  const char* p = text;
  const char* end = text + length;
  while (p < end && is_space(*p)) ++p;
  ThreadSyscall s;
  static constexpr char kRunning[] = "running";
  if (static_cast<size_t>(end - p) >= sizeof kRunning - 1 &&
      memcmp(p, kRunning, sizeof kRunning - 1) == 0) {
    if (!only_blanks_left(p + sizeof kRunning - 1, end)) return false;
    *out = s;  // kRunning
    return true;
  }
  uint64_t nr;
  bool negative;
  if (!next_number(p, end, false, &nr, &negative)) return false;
  if (negative) {
    if (nr != 1) return false;  // the kernel writes -1 for "not in a system call"
    uint64_t sp, pc;
    if (!next_number(p, end, true, &sp, nullptr) || !next_number(p, end, true, &pc, nullptr) ||
        !only_blanks_left(p, end))
      return false;
    s.kind = ThreadSyscall::Kind::kBlockedNoCall;
    s.sp = static_cast<uintptr_t>(sp);
    s.pc = static_cast<uintptr_t>(pc);
    *out = s;
    return true;
  }
  s.kind = ThreadSyscall::Kind::kInSyscall;
  s.nr = static_cast<long>(nr);
  for (uint64_t& arg : s.args)
    if (!next_number(p, end, true, &arg, nullptr)) return false;
  uint64_t sp, pc;
  if (!next_number(p, end, true, &sp, nullptr) || !next_number(p, end, true, &pc, nullptr) ||
      !only_blanks_left(p, end))
    return false;
  s.sp = static_cast<uintptr_t>(sp);
  s.pc = static_cast<uintptr_t>(pc);
  *out = s;
  return true;
}

bool parse_schedstat_run_nanos(const char* text, size_t length, uint64_t* out) noexcept {
  const char* p = text;
  uint64_t v;
  if (!next_number(p, text + length, false, &v, nullptr)) return false;
  *out = v;
  return true;
}

ProcRead read_thread_syscall(pid_t tid, ThreadSyscall* out) noexcept {
  char buf[256];
  size_t n = 0;
  ProcRead r = read_thread_file(tid, "syscall", buf, sizeof buf, &n);
  if (r != ProcRead::kOk) return r;
  return parse_thread_syscall(buf, n, out) ? ProcRead::kOk : ProcRead::kUnreadable;
}

ProcRead read_thread_run_nanos(pid_t tid, uint64_t* out) noexcept {
  char buf[128];
  size_t n = 0;
  ProcRead r = read_thread_file(tid, "schedstat", buf, sizeof buf, &n);
  if (r != ProcRead::kOk) return r;
  return parse_schedstat_run_nanos(buf, n, out) ? ProcRead::kOk : ProcRead::kUnreadable;
}

}  // namespace profagent
