// Logging to stderr with the "profagent:" prefix (spdlog, header-only, private logger that
// never touches a host's spdlog registry). Normal context only: never from a signal handler
// or an allocation hook.
#pragma once

#include <spdlog/logger.h>

#include "agent/core/config.h"

namespace profagent {

spdlog::logger& log();
void set_log_level(LogLevel level);
// Whether PROFAGENT_LOG lets messages of `level` through (the logger itself is made at its
// first message: a quiet process never builds it).
bool log_enabled(LogLevel level);
// In a forked child: the parent's logger is abandoned (leaked) and rebuilt on first use.
void forget_logger_after_fork() noexcept;

}  // namespace profagent
