// Thread names by tid, the set of agent-owned threads and whether the program made a thread.
// Normal context for the name map (agent mutex, allocation under AgentScope); the
// agent-thread set (a fixed array) and the thread flag are atomics, usable from any context.
#include "agent/runtime/threads/thread_registry.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>

#include "agent/core/contained.h"
#include "agent/core/fork_reset.h"
#include "agent/core/published_once.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

constexpr size_t kMaxRememberedNames = 8192;
constexpr int kMaxAgentThreads = 16;

struct Registry {
  std::mutex mutex;
  std::unordered_map<pid_t, std::string> names;
};

// Leaked on purpose (outlives every destructor that may still record a thread exit). Made
// at the first name (published_once.h): a fork child never waits on a static's guard a
// parent thread held, and one that has none yet (a shell that never started a thread) makes
// none in its fork handler.
std::atomic<Registry*> g_registry{nullptr};

Registry& registry() {
  return published_once(g_registry, [] { return new Registry; });
}

std::atomic<pid_t> g_agent_threads[kMaxAgentThreads];
std::atomic<bool> g_other_program_threads{false};  // see program_may_have_other_threads

bool read_comm(pid_t tid, char* out, size_t size) {
  size_t n = 0;
  if (read_task_file(tid, "comm", out, size, &n) != 0 || n == 0) return false;
  if (out[n - 1] == '\n') out[n - 1] = '\0';
  return true;
}

}  // namespace

void note_thread_name(pid_t tid, const char* name) noexcept {
  AgentScope scope;
  // Out of memory (a thread started in a process out of address space): not remembered; a
  // live thread's name is read from /proc anyway.
  run_contained("remembering a thread's name", [tid, name] {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.names.size() >= kMaxRememberedNames && r.names.find(tid) == r.names.end())
      r.names.erase(r.names.begin());  // bounded: forget an arbitrary old thread
    r.names[tid] = name;
  });
}

void note_current_thread_name() noexcept {
  char name[16];
  current_thread_name(name);
  note_thread_name(current_tid(), name);
}

std::string thread_name(pid_t tid) {
  char comm[64];
  if (read_comm(tid, comm, sizeof comm)) return comm;
  AgentScope scope;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  auto it = r.names.find(tid);
  return it == r.names.end() ? std::string() : it->second;
}

PROFAGENT_FORK_PATH void reset_thread_registry() noexcept {
  // After fork: the mutex may have been held by a thread that does not exist here.
  if (Registry* r = g_registry.load(std::memory_order_acquire)) {
    new (&r->mutex) std::mutex;
    // Made anew in place, never cleared: a parent thread may have been adding a name at the
    // fork (clearing a half-updated table could crash the child), and clearing frees every
    // node, a copy-on-write fault per page of them before an exec. A child that lives on
    // leaks the parent's names once.
    new (&r->names) std::unordered_map<pid_t, std::string>;
  }
  // (Written only where they change, fork_reset.h: most are zero already.)
  for (auto& slot : g_agent_threads) store_if_changed(slot, 0);
  store_if_changed(g_other_program_threads, false);  // only the forking thread
}

PROFAGENT_START_PATH bool program_may_have_other_threads() noexcept {
  return g_other_program_threads.load(std::memory_order_acquire);
}

PROFAGENT_START_PATH
void note_threads_at_start() noexcept {
  if (!__libc_single_threaded) g_other_program_threads.store(true, std::memory_order_release);
}

void note_program_thread_created() noexcept {
  g_other_program_threads.store(true, std::memory_order_release);
}

PROFAGENT_START_PATH
void register_agent_thread(pid_t tid) noexcept {
  if (is_agent_thread(tid)) return;  // the creator and the thread itself both register it
  for (auto& slot : g_agent_threads) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, tid)) return;
  }
}

void unregister_agent_thread(pid_t tid) noexcept {
  // Every slot: the creator and the thread register it at once and may both have added it.
  for (auto& slot : g_agent_threads) {
    pid_t expected = tid;
    slot.compare_exchange_strong(expected, 0);
  }
}

bool is_agent_thread(pid_t tid) noexcept {
  for (auto& slot : g_agent_threads)
    if (slot.load(std::memory_order_relaxed) == tid) return true;
  return false;
}

int read_task_file(pid_t tid, const char* name, char* buf, size_t size,
                   size_t* length) noexcept {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/%s", static_cast<int>(tid), name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n;
  do n = read(fd, buf, size - 1);
  while (n < 0 && errno == EINTR);
  int read_errno = errno;
  close(fd);
  if (n < 0) return read_errno;
  buf[n] = '\0';
  *length = static_cast<size_t>(n);
  return 0;
}

bool thread_alive(pid_t tid) {
  char buf[512];
  size_t n = 0;
  if (read_task_file(tid, "stat", buf, sizeof buf, &n) != 0 || n == 0) return false;
  const char* paren = strrchr(buf, ')');  // the name may hold anything but ends the field
  char state = paren != nullptr && paren[1] == ' ' ? paren[2] : 0;
  return state != 0 && state != 'Z' && state != 'X';
}

bool for_each_thread(bool (*visit)(pid_t tid, void* data), void* data) noexcept {
  // getdents64 into a buffer on the stack, not opendir: its 32 KiB heap buffer and fstat
  // cost every process's exit dump more than the listing itself.
  int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  alignas(8) char buf[4096];
  bool more = true;
  while (more) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long at = 0; at < n && more;) {
      const auto* e = reinterpret_cast<const dirent64*>(buf + at);
      if (e->d_name[0] >= '0' && e->d_name[0] <= '9')
        more = visit(static_cast<pid_t>(atoi(e->d_name)), data);
      at += e->d_reclen;
    }
  }
  close(fd);
  return true;
}

bool other_program_thread(pid_t except, bool live_only) noexcept {
  struct Look {
    pid_t except;
    bool live_only;
    bool found;
  } look{except, live_only, false};
  for_each_thread(
      [](pid_t tid, void* data) {
        auto* l = static_cast<Look*>(data);
        if (tid == l->except || is_agent_thread(tid) || (l->live_only && !thread_alive(tid)))
          return true;
        l->found = true;
        return false;
      },
      &look);
  return look.found;
}

std::vector<pid_t> list_threads() {
  // The vector grows between walks, never inside one (an allocation that throws there would
  // leave the directory open): a walk that fills it is made again with twice the room.
  std::vector<pid_t> tids;
  for (size_t room = 64;; room *= 2) {
    tids.clear();
    tids.reserve(room);
    bool full = false;
    struct Fill {
      std::vector<pid_t>* tids;
      bool* full;
    } fill{&tids, &full};
    for_each_thread(
        [](pid_t tid, void* data) {
          auto* f = static_cast<Fill*>(data);
          if (f->tids->size() == f->tids->capacity()) return !(*f->full = true);
          f->tids->push_back(tid);
          return true;
        },
        &fill);
    if (!full) return tids;
  }
}

}  // namespace profagent
