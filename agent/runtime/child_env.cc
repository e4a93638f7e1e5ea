// The filtered child environment for PROFAGENT_CHILDREN=0 (child_env.h). HOOK CONTEXT
// except child_env_start(): no allocation, no lock, errno preserved.
#include "agent/core/large_bss.h"
#include "agent/runtime/child_env.h"
#include "agent/core/code_layout.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <atomic>

namespace profagent {
namespace {

PROFAGENT_LARGE_BSS constinit AgentLibrary g_library;
constinit std::atomic<bool> g_active{false};

constexpr char kPreload[] = "LD_PRELOAD=";
constexpr size_t kPreloadLen = sizeof kPreload - 1;
constexpr char kAgentPrefix[] = "PROFAGENT_";
constexpr size_t kAgentPrefixLen = sizeof kAgentPrefix - 1;

bool is_separator(char c) { return c == ':' || c == ' '; }  // as the loader splits it

}  // namespace

PROFAGENT_START_PATH
void child_env_start(bool children) {
  if (children) return;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&child_env_start), &info) != 0 && info.dli_fname &&
      strlen(info.dli_fname) < sizeof g_library.path) {
    strcpy(g_library.path, info.dli_fname);
    struct stat st;
    if (stat(g_library.path, &st) == 0) {
      g_library.dev = st.st_dev;
      g_library.ino = st.st_ino;
      g_library.have_inode = true;
    }
  } else {
    strcpy(g_library.path, "libprofagent.so");
  }
  const char* slash = strrchr(g_library.path, '/');
  g_library.basename = slash != nullptr ? slash + 1 : g_library.path;
  g_active.store(true, std::memory_order_release);
}

PROFAGENT_FORK_PATH
bool child_env_active() noexcept { return g_active.load(std::memory_order_acquire); }

const AgentLibrary& agent_library() noexcept { return g_library; }

bool is_agent_entry(const char* entry, size_t len, const AgentLibrary& lib) noexcept {
  if (len == 0 || lib.basename == nullptr) return false;
  size_t base = len;
  while (base > 0 && entry[base - 1] != '/') --base;
  const size_t base_len = len - base;
  if (base_len == strlen(lib.basename) && memcmp(entry + base, lib.basename, base_len) == 0)
    return true;
  if (!lib.have_inode || base == 0) return false;  // no '/': found by the loader's search
  char path[4096];
  if (len >= sizeof path) return false;
  memcpy(path, entry, len);
  path[len] = '\0';
  const int saved = errno;
  struct stat st;
  const bool same = stat(path, &st) == 0 && st.st_dev == lib.dev && st.st_ino == lib.ino;
  errno = saved;
  return same;
}

size_t child_env_bytes(char* const* envp) noexcept {
  size_t n = 0, preload = 0;
  for (char* const* e = envp; e != nullptr && *e != nullptr; ++e, ++n)
    if (strncmp(*e, kPreload, kPreloadLen) == 0) preload += strlen(*e) + 1;
  return (n + 1) * sizeof(char*) + preload;
}

char** child_env_filter(char* const* envp, const AgentLibrary& lib, void* buf,
                        size_t size) noexcept {
  if (size < child_env_bytes(envp)) return nullptr;
  size_t n = 0;
  for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) ++n;
  char** out = static_cast<char**>(buf);
  char* text = reinterpret_cast<char*>(out + n + 1);
  size_t kept = 0;
  for (char* const* e = envp; e != nullptr && *e != nullptr; ++e) {
    const char* entry = *e;
    if (strncmp(entry, kAgentPrefix, kAgentPrefixLen) == 0) continue;
    if (strncmp(entry, kPreload, kPreloadLen) != 0) {
      out[kept++] = const_cast<char*>(entry);
      continue;
    }
    // LD_PRELOAD: keep every entry but the agent's, joined with ':'.
    char* rewritten = text;
    memcpy(text, kPreload, kPreloadLen);
    text += kPreloadLen;
    bool any = false;
    const char* p = entry + kPreloadLen;
    while (*p != '\0') {
      while (is_separator(*p)) ++p;
      const char* start = p;
      while (*p != '\0' && !is_separator(*p)) ++p;
      const size_t len = static_cast<size_t>(p - start);
      if (len == 0 || is_agent_entry(start, len, lib)) continue;
      if (any) *text++ = ':';
      memcpy(text, start, len);
      text += len;
      any = true;
    }
    *text++ = '\0';
    if (any) out[kept++] = rewritten;
    else text = rewritten;  // nothing left: drop the variable
  }
  out[kept] = nullptr;
  return out;
}

}  // namespace profagent
