// The agent's private spdlog logger on stderr ("profagent: <level>: <message>"). Normal
// context only. The logger is created once and never destroyed, so it outlives the exit dump.
#include "agent/core/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

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

}  // namespace

// Leaked on purpose: no destructor may run before the final dump at exit. A pointer, not a
// function-local static, so a forked child can drop the parent's (its sink mutex may have been
// held by another parent thread at the fork) and build its own on first use.
constinit spdlog::logger* g_logger = nullptr;
constinit spdlog::level::level_enum g_level = spdlog::level::warn;

spdlog::logger& log() {
  if (g_logger == nullptr) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    auto* l = new spdlog::logger("profagent", std::move(sink));
    l->set_pattern("profagent: %l: %v");
    l->set_level(g_level);
    l->flush_on(spdlog::level::trace);
    g_logger = l;
  }
  return *g_logger;
}

void forget_logger_after_fork() noexcept { g_logger = nullptr; }

void set_log_level(LogLevel level) {
  g_level = to_spdlog(level);
  if (g_logger != nullptr) g_logger->set_level(g_level);  // else made at the first message
}

bool log_enabled(LogLevel level) { return to_spdlog(level) >= g_level; }

}  // namespace profagent
