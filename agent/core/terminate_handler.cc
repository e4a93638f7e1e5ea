// The agent's std::terminate handler (see terminate_handler.h). Any context: no allocation,
// write(2) only, then abort().
#include "agent/core/terminate_handler.h"

#include <cxxabi.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace profagent {
namespace {

void write_text(const char* text) noexcept {
  size_t size = strlen(text);
  while (size > 0) {
    ssize_t n = write(STDERR_FILENO, text, size);
    if (n <= 0) return;  // (EINTR included: this line is the last thing done)
    text += n;
    size -= static_cast<size_t>(n);
  }
}

}  // namespace

void agent_terminate() noexcept {
  // (Reached again from within, e.g. what() throwing: no second line.)
  static constinit std::atomic<bool> g_terminating{false};
  if (g_terminating.exchange(true)) abort();
  write_text("profagent: internal error: std::terminate called in the agent");
  if (abi::__cxa_current_exception_type() != nullptr) {
    try {
      throw;  // the exception being handled, rethrown in place: nothing is allocated
    } catch (const std::exception& e) {
      write_text(" after an exception: ");
      write_text(e.what());
    } catch (...) {
      write_text(" after an exception");
    }
  }
  write_text("\n");
  abort();
}

}  // namespace profagent
