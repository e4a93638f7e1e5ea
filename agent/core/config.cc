// Parsing of the PROFAGENT_* environment variables into a Config. Normal context only.
// Every bad value yields one warning naming the variable and the value, then the default.
#include "agent/core/config.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <cstdlib>
#include <optional>

#include "agent/core/listen_address.h"
#include "agent/core/push_labels.h"
#include "agent/core/printable.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

// A pointer, not an object: the agent's constructor runs before this library's dynamic
// initializers, which would otherwise reset a global Config after the agent set it.
Config* g_config = nullptr;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

PROFAGENT_START_PATH std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\n\r");
  return s.substr(b, e - b + 1);
}

// A whole decimal integer in [lo, hi]; nothing else (no sign games, no trailing text).
std::optional<int64_t> parse_int(const std::string& text, int64_t lo, int64_t hi) {
  std::string t = trim(text);
  if (t.empty()) return std::nullopt;
  size_t i = (t[0] == '+') ? 1 : 0;
  if (i == t.size()) return std::nullopt;
  for (size_t j = i; j < t.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(t[j]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(t.c_str() + i, &end, 10);
  if (errno == ERANGE || *end != '\0') return std::nullopt;
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

// Seconds as a whole or decimal number with up to 3 decimals ("30", "0.2"), in nanoseconds:
// 0, or from 0.05 s to `max_seconds`.
std::optional<int64_t> parse_seconds(const std::string& text, int64_t max_seconds) {
  std::string t = trim(text);
  size_t dot = t.find('.');
  std::string whole = dot == std::string::npos ? t : t.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : t.substr(dot + 1);
  if (dot != std::string::npos && (frac.empty() || frac.size() > 3)) return std::nullopt;
  for (char c : frac)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  std::optional<int64_t> w = whole.empty() && !frac.empty() ? std::optional<int64_t>(0)
                                                            : parse_int(whole, 0, max_seconds);
  if (!w) return std::nullopt;
  while (frac.size() < 3) frac += '0';
  int64_t millis = *w * 1000 + std::stoll(frac);
  if (millis != 0 && (millis < 50 || millis > max_seconds * 1000)) return std::nullopt;
  return millis * 1000000;
}

std::optional<bool> parse_bool(const std::string& text) {
  std::string t = lower(trim(text));
  if (t == "1" || t == "true" || t == "yes" || t == "on") return true;
  if (t == "0" || t == "false" || t == "no" || t == "off") return false;
  return std::nullopt;
}

// Signals that may trigger a dump: USR1, USR2 and the real-time signals. Every other signal
// is one the program's life depends on (termination, job control, children, timers, faults,
// window size, Go's preemption on URG...): taking it over would change what the program does.
bool usable_dump_signal(int sig) {
  return sig == SIGUSR1 || sig == SIGUSR2 || (sig >= SIGRTMIN && sig <= SIGRTMAX);
}

// "USR2", "SIGUSR2", "usr2", "12": any signal number, usable or not; 0 for "none".
std::optional<int> parse_signal_number(const std::string& text) {
  std::string t = trim(text);
  if (lower(t) == "none") return 0;
  if (auto n = parse_int(t, 1, SIGRTMAX)) return static_cast<int>(*n);
  std::string name = t;
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  if (name.empty()) return std::nullopt;
  if (name == "IO") return SIGIO;  // aliases sigabbrev_np does not give
  if (name == "CLD") return SIGCHLD;
  if (name == "IOT") return SIGABRT;
  for (int sig = 1; sig < 32; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && name == abbrev) return sig;
  }
  return std::nullopt;
}

std::optional<LogLevel> parse_log_level(const std::string& text) {
  std::string t = lower(trim(text));
  if (t == "trace") return LogLevel::kTrace;
  if (t == "debug") return LogLevel::kDebug;
  if (t == "info") return LogLevel::kInfo;
  if (t == "warn" || t == "warning") return LogLevel::kWarn;
  if (t == "error") return LogLevel::kError;
  if (t == "off" || t == "none") return LogLevel::kOff;
  return std::nullopt;
}

PROFAGENT_START_PATH std::string join_path(const std::string& cwd, const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  if (cwd.empty()) return path;
  std::string out = cwd;
  if (out.back() != '/') out += '/';
  // Drop a leading "./" for tidier paths.
  std::string rest = path;
  while (rest.rfind("./", 0) == 0) rest = rest.substr(2);
  out += rest;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

PROFAGENT_START_PATH
ParsedConfig parse_config(const EnvLookup& lookup, const std::string& cwd,
                          std::span<const ProfileKind* const> kinds) {
  ParsedConfig parsed;
  Config& c = parsed.config;
  auto warn = [&](const char* name, const std::string& value, const std::string& expected,
                  const std::string& fallback) {
    parsed.warnings.push_back(std::string(name) + "='" + printable(value) + "' is not " + expected +
                              "; using " + fallback);
  };
  auto get = [&](const char* name) -> std::optional<std::string> {
    const char* v = lookup(name);
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };

  if (auto v = get("PROFAGENT_DIR")) {
    if (trim(*v).empty()) warn("PROFAGENT_DIR", *v, "a directory path", "'profiles'");
    else c.dir = *v;
  }
  c.dir = join_path(cwd, c.dir);

  for (const ProfileKind* kind : kinds) {
    const KindSetting& k = kind->setting;
    c.kind_values[kind->name] = k.default_value;
    auto v = get(k.env);
    if (!v) continue;
    std::optional<int64_t> n;
    if (k.boolean) {
      if (auto b = parse_bool(*v)) n = *b ? 1 : 0;
    } else {
      n = parse_int(*v, k.min, k.max);
    }
    if (n) c.kind_values[kind->name] = *n;
    else warn(k.env, *v, k.expected, k.fallback);
  }
  if (auto v = get("PROFAGENT_CHILDREN")) {
    if (auto b = parse_bool(*v)) c.children = *b;
    else warn("PROFAGENT_CHILDREN", *v, "0 or 1", "1");
  }
  if (auto v = get("PROFAGENT_SIGNAL")) {
    std::optional<int> s = parse_signal_number(*v);
    if (s && (*s == 0 || usable_dump_signal(*s))) {
      c.dump_signal = *s;
      c.dump_signal_chosen = true;
    } else if (s) warn("PROFAGENT_SIGNAL", *v,
                     "a signal the agent may take: the program relies on SIG" +
                         std::string(sigabbrev_np(*s) ? sigabbrev_np(*s) : "?") +
                         " (only USR1, USR2 or a real-time signal, or 'none')",
                     "USR2");
    else warn("PROFAGENT_SIGNAL", *v,
              "a usable signal name or number (USR1, USR2, a real-time signal) or 'none'",
              "USR2");
  }
  if (auto v = get("PROFAGENT_INTERVAL")) {
    if (auto n = parse_seconds(*v, 31536000)) {
      c.interval_nanos = *n;
      c.interval_seconds = *n / 1000000000;
    } else {
      warn("PROFAGENT_INTERVAL", *v,
           "a number of seconds, 0 or from 0.05 to 31536000 (at most 3 decimals)",
           "0 (dumps only on signal and at exit)");
    }
  }
  if (auto v = get("PROFAGENT_PUSH_URL"); v && !trim(*v).empty()) {
    std::string url = trim(*v);
    while (url.size() > 1 && url.back() == '/') url.pop_back();
    if (std::string problem = push_url_problem(url); problem.empty()) c.push_url = url;
    else warn("PROFAGENT_PUSH_URL", redact_url(*v),
              "a usable http(s)://host:port URL (" + problem + ")", "no push");
  }
  if (auto v = get("PROFAGENT_APP_NAME")) {
    if (valid_app_name(trim(*v))) c.app_name = trim(*v);
    else warn("PROFAGENT_APP_NAME", *v,
              "1 to 128 letters, digits or . _ - / :", "the executable's name");
  }
  if (auto v = get("PROFAGENT_TAGS")) {
    ParsedTags tags = parse_tags(*v);
    c.tags = std::move(tags.tags);
    if (!tags.bad.empty()) {
      std::string bad;
      for (const std::string& b : tags.bad)
        bad += (bad.empty() ? "'" : ", '") + printable(b) + "'";
      parsed.warnings.push_back(
          "PROFAGENT_TAGS='" + printable(*v) + "' has bad tags " + printable(bad, 400) +
          " (want key=value: key of letters, digits, _ and ., not starting with __; value of "
          "letters, digits and . _ - / : @ +); dropping them");
    }
  }
  if (auto v = get("PROFAGENT_LOG")) {
    if (auto l = parse_log_level(*v)) c.log_level = *l;
    else warn("PROFAGENT_LOG", *v, "one of trace, debug, info, warn, error, off", "warn");
  }
  if (auto v = get("PROFAGENT_HTTP")) {
    if (trim(*v).empty()) {
      // set but empty: off, as when unset
    } else if (auto addr = parse_listen_address(*v)) {
      c.http = addr->text;
    } else {
      warn("PROFAGENT_HTTP", redact_url(*v), "a listen address like 127.0.0.1:6060, [::1]:6060 or :6060",
           "no HTTP server");
    }
  }
  {
    // PROFAGENT_SYMBOL_CACHE: a directory, "off", or unset for the per-user default.
    std::string setting;
    if (auto v = get("PROFAGENT_SYMBOL_CACHE")) {
      std::string t = trim(*v);
      if (t.empty() || t == "off" || t.front() == '/') setting = t;
      else warn("PROFAGENT_SYMBOL_CACHE", *v, "an absolute directory path or off",
                "the default cache directory");
    }
    c.symbol_cache_dir = symbol_cache_directory(setting, lookup("XDG_CACHE_HOME"),
                                                           lookup("HOME"));
  }
  return parsed;
}

PROFAGENT_START_PATH
std::string symbol_cache_directory(const std::string& setting, const char* xdg_cache_home,
                                   const char* home) {
  if (setting == "off") return {};
  if (!setting.empty()) return setting;
  if (xdg_cache_home != nullptr && xdg_cache_home[0] == '/')
    return std::string(xdg_cache_home) + "/profagent";
  if (home != nullptr && home[0] == '/' && std::strcmp(home, "/") != 0)
    return std::string(home) + "/.cache/profagent";
  return {};
}

PROFAGENT_FORK_PATH const Config& config() {
  if (g_config == nullptr) g_config = new Config;  // defaults until the agent starts
  return *g_config;
}

PROFAGENT_START_PATH
void set_config(const Config& config) {
  if (g_config == nullptr) g_config = new Config(config);  // never freed: used at exit
  else *g_config = config;
}

}  // namespace profagent
