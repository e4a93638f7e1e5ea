// Configuration from PROFAGENT_* environment variables: parsed once at start, then read-only.
// Normal context only (parsing allocates).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/core/profile_kind.h"

namespace profagent {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

struct Config {
  std::string dir = "profiles";        // PROFAGENT_DIR, absolute after parse_config
  // Each profile kind's setting (its descriptor's KindSetting: PROFAGENT_CPU_HZ...), by
  // kind name; 0 = off. A kind missing here is off.
  std::map<std::string, int64_t, std::less<>> kind_values;
  int dump_signal = 12;                // PROFAGENT_SIGNAL (SIGUSR2), 0 = none
  bool dump_signal_chosen = false;     // PROFAGENT_SIGNAL was set (not the default)
  int64_t interval_seconds = 0;        // PROFAGENT_INTERVAL, whole part (0 = only signal and exit)
  int64_t interval_nanos = 0;          // PROFAGENT_INTERVAL exactly (decimals like 0.2 allowed)
  std::string push_url;                // PROFAGENT_PUSH_URL, "" = no push to Pyroscope
  std::string app_name;                // PROFAGENT_APP_NAME, "" = the executable's name
  std::vector<std::pair<std::string, std::string>> tags;  // PROFAGENT_TAGS, k=v,k=v
  LogLevel log_level = LogLevel::kWarn;  // PROFAGENT_LOG
  std::string http;                    // PROFAGENT_HTTP listen address, "" = no server
  bool children = true;                // PROFAGENT_CHILDREN: exec'd children are profiled too

  int64_t value(std::string_view kind) const {
    auto it = kind_values.find(kind);
    return it != kind_values.end() ? it->second : 0;
  }
  std::string symbol_cache_dir;        // PROFAGENT_SYMBOL_CACHE resolved, "" = no cache
};

struct ParsedConfig {
  Config config;
  // One line per bad value, each naming the variable and the value; logged by the caller.
  std::vector<std::string> warnings;
};

// getenv-like lookup: returns nullptr when the variable is unset.
using EnvLookup = std::function<const char*(const char*)>;

// Parses every PROFAGENT_* variable: the agent's own and each of `kinds`' setting. `cwd`
// resolves a relative PROFAGENT_DIR.
ParsedConfig parse_config(const EnvLookup& lookup, const std::string& cwd,
                          std::span<const ProfileKind* const> kinds);

// The configuration the agent started with (valid after the constructor ran).
const Config& config();
void set_config(const Config& config);

// The directory for a PROFAGENT_SYMBOL_CACHE setting: "" = default ($XDG_CACHE_HOME/profagent,
// else $HOME/.cache/profagent, else none), "off" = none (returns ""), else the path itself.
std::string symbol_cache_directory(const std::string& setting, const char* xdg_cache_home,
                                   const char* home);

}  // namespace profagent
