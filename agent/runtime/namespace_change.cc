// Which namespace changes need a single-threaded process (see namespace_change.h). Hook
// context: no allocation, errno preserved.
#include "agent/runtime/namespace_change.h"

#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>

#include <cerrno>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace profagent {

bool unshare_needs_one_thread(int flags) noexcept {
  // kernel/fork.c check_unshare_flags: CLONE_NEWUSER implies CLONE_THREAD, and
  // THREAD/SIGHAND/VM need thread_group_empty(current).
  return (flags & (CLONE_NEWUSER | CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) != 0;
}

bool setns_type_needs_one_thread(int nstype) noexcept {
  // userns_install: thread group of one and fs->users == 1; mntns_install: fs->users == 1;
  // timens_install: current_is_single_threaded(). nstype 0 may be any of them; a pidfd's
  // nstype is a mask that may include them.
  return nstype == 0 || (nstype & (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWTIME)) != 0;
}

bool setns_needs_one_thread(int fd, int nstype) noexcept {
  if (nstype != 0) return setns_type_needs_one_thread(nstype);
  int saved = errno;
  int type = ioctl(fd, NS_GET_NSTYPE);
  errno = saved;
  return type <= 0 || setns_type_needs_one_thread(type);
}

}  // namespace profagent
