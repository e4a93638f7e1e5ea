// What /proc says about one thread of our process, for the threads snapshot: whether it is
// running or blocked, and for a blocked one the registers the kernel saved when it entered
// the kernel (/proc/self/task/TID/syscall), plus its total run time
// (/proc/self/task/TID/schedstat) to tell whether it ran in between two reads.
//
// Normal context (dump thread). Every file is opened O_CLOEXEC, read once and closed at
// once: no descriptor outlives a call. The parsers are pure functions.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace profagent {

struct ThreadSyscall {
  enum class Kind {
    kRunning,         // "running": on a CPU or runnable (user space or kernel)
    kInSyscall,       // blocked in system call `nr`; args, sp and pc are valid
    kBlockedNoCall,   // blocked outside any system call ("-1 sp pc", e.g. stopped, a fault)
  };
  Kind kind = Kind::kRunning;
  long nr = -1;
  uint64_t args[6] = {};
  uintptr_t sp = 0;
  uintptr_t pc = 0;

  // Same kind, call, arguments and registers: the thread is still in the same wait.
  bool same_wait(const ThreadSyscall& other) const noexcept;
};

// Parses the text of /proc/PID/task/TID/syscall. False on anything it does not recognise.
bool parse_thread_syscall(const char* text, size_t length, ThreadSyscall* out) noexcept;

// Parses /proc/PID/task/TID/schedstat ("run_ns wait_ns timeslices"): the run time.
bool parse_schedstat_run_nanos(const char* text, size_t length, uint64_t* out) noexcept;

// Result of reading one /proc file of a thread.
enum class ProcRead { kOk, kGone, kUnreadable };

// Reads and parses /proc/self/task/TID/syscall. kGone: the thread no longer exists.
ProcRead read_thread_syscall(pid_t tid, ThreadSyscall* out) noexcept;
// Reads /proc/self/task/TID/schedstat's run time (kUnreadable without CONFIG_SCHEDSTATS
// style accounting: callers then rely on the syscall file alone).
ProcRead read_thread_run_nanos(pid_t tid, uint64_t* out) noexcept;

}  // namespace profagent
