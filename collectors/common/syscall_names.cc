// System call numbers → names (see syscall_names.h). Any context: a static table built from
// the C library's SYS_* numbers for this architecture, so it is right wherever it compiles.
#include "collectors/common/syscall_names.h"

#include <sys/syscall.h>

namespace profagent {
namespace {

// The name in the entry, not a pointer to it: the table is read-only data the loader does not
// relocate (a pointer each would put it on a page copied at every process's start).
struct Entry {
  long nr;
  char name[16];
};

#define PROFAGENT_SYSCALL(n) {SYS_##n, #n},
constexpr Entry kSyscalls[] = {
    // Reads, writes and waits on descriptors.
    PROFAGENT_SYSCALL(read) PROFAGENT_SYSCALL(write) PROFAGENT_SYSCALL(readv)
    PROFAGENT_SYSCALL(writev) PROFAGENT_SYSCALL(pread64) PROFAGENT_SYSCALL(pwrite64)
    PROFAGENT_SYSCALL(preadv) PROFAGENT_SYSCALL(pwritev) PROFAGENT_SYSCALL(preadv2)
    PROFAGENT_SYSCALL(pwritev2) PROFAGENT_SYSCALL(ppoll) PROFAGENT_SYSCALL(pselect6)
    PROFAGENT_SYSCALL(epoll_pwait) PROFAGENT_SYSCALL(epoll_pwait2)
    PROFAGENT_SYSCALL(io_getevents) PROFAGENT_SYSCALL(io_pgetevents)
    PROFAGENT_SYSCALL(io_uring_enter) PROFAGENT_SYSCALL(splice) PROFAGENT_SYSCALL(tee)
    PROFAGENT_SYSCALL(sendfile) PROFAGENT_SYSCALL(fsync) PROFAGENT_SYSCALL(fdatasync)
    PROFAGENT_SYSCALL(sync_file_range) PROFAGENT_SYSCALL(flock) PROFAGENT_SYSCALL(fcntl)
    PROFAGENT_SYSCALL(ioctl) PROFAGENT_SYSCALL(openat) PROFAGENT_SYSCALL(close)
    PROFAGENT_SYSCALL(msync) PROFAGENT_SYSCALL(madvise) PROFAGENT_SYSCALL(mmap)
    PROFAGENT_SYSCALL(munmap) PROFAGENT_SYSCALL(mprotect)
    // Sockets.
    PROFAGENT_SYSCALL(accept) PROFAGENT_SYSCALL(accept4) PROFAGENT_SYSCALL(connect)
    PROFAGENT_SYSCALL(recvfrom) PROFAGENT_SYSCALL(recvmsg) PROFAGENT_SYSCALL(recvmmsg)
    PROFAGENT_SYSCALL(sendto) PROFAGENT_SYSCALL(sendmsg) PROFAGENT_SYSCALL(sendmmsg)
    PROFAGENT_SYSCALL(shutdown)
    // Sleeps, futexes, children, signals.
    PROFAGENT_SYSCALL(nanosleep) PROFAGENT_SYSCALL(clock_nanosleep) PROFAGENT_SYSCALL(futex)
    PROFAGENT_SYSCALL(sched_yield) PROFAGENT_SYSCALL(wait4) PROFAGENT_SYSCALL(waitid)
    PROFAGENT_SYSCALL(rt_sigtimedwait) PROFAGENT_SYSCALL(rt_sigsuspend)
    PROFAGENT_SYSCALL(semtimedop) PROFAGENT_SYSCALL(msgrcv) PROFAGENT_SYSCALL(msgsnd)
    PROFAGENT_SYSCALL(mq_timedreceive) PROFAGENT_SYSCALL(mq_timedsend)
    PROFAGENT_SYSCALL(restart_syscall) PROFAGENT_SYSCALL(exit) PROFAGENT_SYSCALL(exit_group)
    PROFAGENT_SYSCALL(clone) PROFAGENT_SYSCALL(execve) PROFAGENT_SYSCALL(getrandom)
// Calls the newer architectures (aarch64, riscv) replaced by the *at / p* forms above.
#ifdef SYS_poll
    PROFAGENT_SYSCALL(poll)
#endif
#ifdef SYS_select
    PROFAGENT_SYSCALL(select)
#endif
#ifdef SYS_epoll_wait
    PROFAGENT_SYSCALL(epoll_wait)
#endif
#ifdef SYS_pause
    PROFAGENT_SYSCALL(pause)
#endif
#ifdef SYS_open
    PROFAGENT_SYSCALL(open)
#endif
#ifdef SYS_semop
    PROFAGENT_SYSCALL(semop)
#endif
#ifdef SYS_fork
    PROFAGENT_SYSCALL(fork) PROFAGENT_SYSCALL(vfork)
#endif
#ifdef SYS_clone3
    PROFAGENT_SYSCALL(clone3)
#endif
#ifdef SYS_futex_waitv
    PROFAGENT_SYSCALL(futex_waitv)
#endif
};
#undef PROFAGENT_SYSCALL

}  // namespace

const char* syscall_name(long nr) noexcept {
  for (const Entry& e : kSyscalls)
    if (e.nr == nr) return e.name;
  return nullptr;
}

size_t syscall_label_into(long nr, char* out, size_t size) noexcept {
  if (size == 0) return 0;
  size_t n = 0;
  auto put = [&](char c) {
    if (n + 1 < size) out[n++] = c;
  };
  if (const char* name = syscall_name(nr)) {
    for (const char* p = name; *p != '\0'; ++p) put(*p);
  } else {
    for (const char* p = "syscall_"; *p != '\0'; ++p) put(*p);
    unsigned long v = nr < 0 ? 0ul - static_cast<unsigned long>(nr) : static_cast<unsigned long>(nr);
    if (nr < 0) put('-');
    char digits[24];
    int d = 0;
    do {
      digits[d++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (d > 0) put(digits[--d]);
  }
  out[n] = '\0';
  return n;
}

std::string syscall_label(long nr) {
  char buf[48];
  size_t n = syscall_label_into(nr, buf, sizeof buf);
  return std::string(buf, n);
}

}  // namespace profagent
