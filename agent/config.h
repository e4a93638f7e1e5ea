// Configuration from PROFAGENT_* environment variables: parsed once at start, then read-only.
// Normal context only (parsing allocates).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace profagent {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kOff };

struct Config {
  std::string dir = "profiles";        // PROFAGENT_DIR, absolute after parse_config
  int cpu_hz = 100;                    // PROFAGENT_CPU_HZ, 0 = off, max 4000
  int64_t heap_rate = 524288;          // PROFAGENT_HEAP_RATE, 0 = off
  int64_t mutex_fraction = 0;          // PROFAGENT_MUTEX_FRACTION, 0 = off
  int64_t block_rate = 0;              // PROFAGENT_BLOCK_RATE (ns), 0 = off
  bool threads = true;                 // PROFAGENT_THREADS
  int wall_hz = 0;                     // PROFAGENT_WALL_HZ, 0 = off, max 1000
  int dump_signal = 12;                // PROFAGENT_SIGNAL (SIGUSR2), 0 = none
  int64_t interval_seconds = 0;        // PROFAGENT_INTERVAL, whole part (0 = only signal and exit)
  int64_t interval_nanos = 0;          // PROFAGENT_INTERVAL exactly (decimals like 0.2 allowed)
  std::string push_url;                // PROFAGENT_PUSH_URL, "" = no push to Pyroscope
  std::string app_name;                // PROFAGENT_APP_NAME, "" = the executable's name
  std::vector<std::pair<std::string, std::string>> tags;  // PROFAGENT_TAGS, k=v,k=v
  LogLevel log_level = LogLevel::kWarn;  // PROFAGENT_LOG
  std::string http;                    // PROFAGENT_HTTP listen address, "" = no server
};

struct ParsedConfig {
  Config config;
  // One line per bad value, each naming the variable and the value; logged by the caller.
  std::vector<std::string> warnings;
};

// getenv-like lookup: returns nullptr when the variable is unset.
using EnvLookup = std::function<const char*(const char*)>;

// Parses every PROFAGENT_* variable. `cwd` resolves a relative PROFAGENT_DIR.
ParsedConfig parse_config(const EnvLookup& lookup, const std::string& cwd);

// The configuration the agent started with (valid after the constructor ran).
const Config& config();
void set_config(const Config& config);

}  // namespace profagent
