// Logging to stderr with the "profagent:" prefix (spdlog, header-only, private logger that
// never touches a host's spdlog registry). Normal context only: never from a signal handler
// or an allocation hook.
#pragma once

#include <spdlog/logger.h>

#include <string_view>
#include <utility>

#include "agent/core/config.h"

namespace profagent {

spdlog::logger& log();
void set_log_level(LogLevel level);
// Whether PROFAGENT_LOG lets messages of `level` through (the logger itself is made at its
// first message: a quiet process never builds it).
bool log_enabled(LogLevel level);

// Debug and info messages, which the default level (warn) drops: the logger is not even made
// for them then (spdlog's logger and pattern cost every process ~10 us).
template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::kDebug)) log().debug(format, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(spdlog::format_string_t<Args...> format, Args&&... args) {
  if (log_enabled(LogLevel::kInfo)) log().info(format, std::forward<Args>(args)...);
}
// One warning written straight to stderr (one write, nothing allocated, the logger not made),
// if PROFAGENT_LOG lets warnings through: for a process the agent leaves alone (valgrind),
// where the logger's allocations would show in the program's memory checker.
void log_warning_direct(std::string_view message) noexcept;

// In a forked child: the parent's logger is abandoned (leaked) and rebuilt on first use.
void forget_logger_after_fork() noexcept;

}  // namespace profagent
