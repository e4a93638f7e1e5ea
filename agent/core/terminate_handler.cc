// The agent's std::terminate handler (see terminate_handler.h). Any context: no allocation,
// write(2) only, then abort().
#include "agent/core/terminate_handler.h"

#include <unistd.h>

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
  write_text("profagent: internal error: std::terminate called in the agent");
  if (std::exception_ptr thrown = std::current_exception()) {
    try {
      std::rethrow_exception(thrown);
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
