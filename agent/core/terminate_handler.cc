// The agent's std::terminate handler (see terminate_handler.h). Any context: no allocation,
// one line to the program's stderr, then abort().
#include "agent/core/terminate_handler.h"

#include <cxxabi.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "agent/core/program_stderr.h"

namespace profagent {
namespace {

// Appends as much of `text` as fits in the `room` bytes of `line` (cut, never overflowed).
void append(char* line, size_t& used, size_t room, const char* text) noexcept {
  size_t size = strlen(text);
  if (size > room - used) size = room - used;
  memcpy(line + used, text, size);
  used += size;
}

}  // namespace

void agent_terminate() noexcept {
  // (Reached again from within, e.g. what() throwing: no second line.)
  static constinit std::atomic<bool> g_terminating{false};
  if (g_terminating.exchange(true)) abort();
  char line[512];
  constexpr size_t kRoom = sizeof line - 1;  // (and the newline)
  size_t used = 0;
  append(line, used, kRoom, "profagent: internal error: std::terminate called in the agent");
  if (abi::__cxa_current_exception_type() != nullptr) {
    try {
      throw;  // the exception being handled, rethrown in place: nothing is allocated
    } catch (const std::exception& e) {
      append(line, used, kRoom, " after an exception: ");
      append(line, used, kRoom, e.what());
    } catch (...) {
      append(line, used, kRoom, " after an exception");
    }
  }
  line[used++] = '\n';
  // (On an agent thread with a file table of its own, fd 2 is /dev/null: program_stderr.h.)
  write_program_stderr(line, used);
  abort();
}

}  // namespace profagent
