// Which namespace changes the kernel allows only to a process's only thread: unshare() of a
// user namespace (or of the thread-group parts, CLONE_THREAD/SIGHAND/VM), setns() into a user,
// mount or time namespace (the kernel wants the caller alone in its thread group, or alone
// with its fs struct, which every pthread shares). A profiled process has the agent's threads
// besides the program's, so such a call needs them out of the way for a moment
// (agent/namespace_hooks.cc). Pure functions and one ioctl; usable in hook context.
#pragma once

namespace profagent {

// unshare(flags) needs a single-threaded process.
bool unshare_needs_one_thread(int flags) noexcept;

// setns(fd, nstype) needs a single-threaded process. nstype 0 (any type) is resolved with
// ioctl(NS_GET_NSTYPE) on fd; when that cannot tell (a pidfd, whose nstype is a mask, or an
// old kernel) the answer is yes if it might.
bool setns_needs_one_thread(int fd, int nstype) noexcept;

// The same decision for a known namespace type (pure; unit-tested).
bool setns_type_needs_one_thread(int nstype) noexcept;

}  // namespace profagent
