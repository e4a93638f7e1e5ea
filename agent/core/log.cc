// The agent's private spdlog logger on stderr ("profagent: <level>: <message>"). Normal
// context only. The logger is created once and never destroyed, so it outlives the exit dump.
#include "agent/core/log.h"

#include "agent/core/code_layout.h"
#include "agent/core/published_once.h"
#include "agent/core/program_stderr.h"
#include "agent/core/fork_reset.h"

#include <spdlog/sinks/sink.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace profagent {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::warn;
}

// One line per message, "profagent: <level>: <message>", straight to the program's stderr
// (from an agent thread with a file table of its own too: program_stderr.h). The format is
// fixed: the sink formats by hand instead of through spdlog's pattern_formatter, whose ~60
// flag classes put 13 KiB of vtables in the library's relocated data, 3 pages that every
// process's loader writes (a page fault each) for a logger most processes never make.
class ProgramStderrSink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    constexpr std::string_view kPrefix = "profagent: ";
    spdlog::memory_buf_t line;
    line.append(kPrefix.data(), kPrefix.data() + kPrefix.size());
    spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.data() + level.size());
    line.push_back(':');
    line.push_back(' ');
    line.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
    line.push_back('\n');
    std::lock_guard<std::mutex> lock(mutex_);
    write_program_stderr(line.data(), line.size());
  }
  void flush() override {}
  // The format above is the only one: the agent never sets another.
  void set_pattern(const std::string&) override {}
  void set_formatter(std::unique_ptr<spdlog::formatter>) override {}

 private:
  std::mutex mutex_;
};

}  // namespace

// Leaked on purpose: no destructor may run before the final dump at exit. A pointer, not a
// function-local static, so a forked child can drop the parent's (its sink mutex may have been
// held by another parent thread at the fork) and build its own on first use. Made at the
// first message, which may come from several agent threads at once: the first one published
// wins, a loser deletes its own.
constinit std::atomic<spdlog::logger*> g_logger{nullptr};
constinit std::atomic<spdlog::level::level_enum> g_level{spdlog::level::warn};

spdlog::logger& log() {
  return published_once(g_logger, [] {
    auto* made = new spdlog::logger("profagent", std::make_shared<ProgramStderrSink>());
    made->set_level(g_level.load());
    made->flush_on(spdlog::level::trace);
    return made;
  });
}

PROFAGENT_FORK_PATH
void forget_logger_after_fork() noexcept { store_if_changed(g_logger, nullptr); }

PROFAGENT_START_PATH
void set_log_level(LogLevel level) {
  g_level.store(to_spdlog(level));
  // Else made at the first message, with this level.
  if (spdlog::logger* l = g_logger.load(std::memory_order_acquire)) l->set_level(g_level.load());
}

PROFAGENT_START_PATH bool log_enabled(LogLevel level) {
  return to_spdlog(level) >= g_level.load(std::memory_order_relaxed);
}

void log_warning_direct(std::string_view message) noexcept {
  if (!log_enabled(LogLevel::kWarn)) return;
  constexpr std::string_view kPrefix = "profagent: warning: ";
  char line[512];
  size_t n = message.size() < sizeof line - kPrefix.size() - 1
                 ? message.size()
                 : sizeof line - kPrefix.size() - 1;
  memcpy(line, kPrefix.data(), kPrefix.size());
  memcpy(line + kPrefix.size(), message.data(), n);
  line[kPrefix.size() + n] = '\n';
  write_program_stderr(line, kPrefix.size() + n + 1);
}

}  // namespace profagent
