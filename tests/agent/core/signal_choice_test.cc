// Unit tests of the dump-signal choice (signals the program's life depends on are refused)
// and of the escaping and cutting of raw values echoed in warnings.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <string>

#include "agent/core/config.h"
#include "agent/core/printable.h"
#include "collectors/registry.h"

namespace profagent {
namespace {

ParsedConfig parse_one(const std::string& name, const std::string& value) {
  std::map<std::string, std::string> env{{name, value}};
  return parse_config(
      [&env](const char* n) -> const char* {
        auto it = env.find(n);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      "/cwd", all_kinds());
}

TEST(SignalChoice, RefusesSignalsTheHostDependsOn) {
  for (const char* name : {"TERM", "INT", "HUP", "QUIT", "CHLD", "TSTP", "CONT", "ALRM", "PIPE",
                           "PROF", "SEGV", "BUS", "FPE", "ILL", "ABRT", "KILL", "STOP", "TTIN",
                           "TTOU", "WINCH", "URG", "VTALRM", "XCPU", "XFSZ", "IO", "SYS",
                           "TRAP", "PWR", "SIGTERM", "sigchld", "15", "17", "28"}) {
    ParsedConfig p = parse_one("PROFAGENT_SIGNAL", name);
    EXPECT_EQ(p.config.dump_signal, SIGUSR2) << name;
    ASSERT_EQ(p.warnings.size(), 1u) << name;
    EXPECT_NE(p.warnings[0].find("PROFAGENT_SIGNAL"), std::string::npos);
    EXPECT_NE(p.warnings[0].find("relies on SIG"), std::string::npos) << p.warnings[0];
    EXPECT_NE(p.warnings[0].find("using USR2"), std::string::npos) << p.warnings[0];
  }
}

TEST(SignalChoice, AcceptsUserAndRealTimeSignals) {
  EXPECT_EQ(parse_one("PROFAGENT_SIGNAL", "USR1").config.dump_signal, SIGUSR1);
  EXPECT_EQ(parse_one("PROFAGENT_SIGNAL", "SIGUSR2").config.dump_signal, SIGUSR2);
  EXPECT_EQ(parse_one("PROFAGENT_SIGNAL", std::to_string(SIGRTMIN)).config.dump_signal,
            SIGRTMIN);
  EXPECT_EQ(parse_one("PROFAGENT_SIGNAL", std::to_string(SIGRTMAX)).config.dump_signal,
            SIGRTMAX);
  EXPECT_EQ(parse_one("PROFAGENT_SIGNAL", "none").config.dump_signal, 0);
  EXPECT_TRUE(parse_one("PROFAGENT_SIGNAL", "USR1").warnings.empty());
}

TEST(Printable, EscapesControlCharactersAndNonAscii) {
  EXPECT_EQ(printable("plain value"), "plain value");
  EXPECT_EQ(printable("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(printable(std::string("\x1b[31mred\x07", 9)), "\\x1b[31mred\\x07");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("back\\slash"), "back\\\\slash");
  EXPECT_EQ(printable("\x7f\xc3\xa9"), "\\x7f\\xc3\\xa9");
}

TEST(Printable, CutsLongValues) {
  std::string raw(10000, 'x');
  std::string out = printable(raw, 120);
  EXPECT_EQ(out, std::string(120, 'x') + "...(10000 bytes)");
  EXPECT_EQ(printable(std::string(120, 'y'), 120), std::string(120, 'y'));
}

TEST(Printable, EveryConfigWarningIsSanitized) {
  std::string evil = "\x1b]0;owned\x07" + std::string(5000, 'A') + "\n";
  for (const char* name : {"PROFAGENT_CPU_HZ", "PROFAGENT_SIGNAL", "PROFAGENT_INTERVAL",
                           "PROFAGENT_LOG", "PROFAGENT_HTTP", "PROFAGENT_TAGS",
                           "PROFAGENT_THREADS", "PROFAGENT_APP_NAME", "PROFAGENT_PUSH_URL"}) {
    ParsedConfig p = parse_one(name, evil);
    ASSERT_FALSE(p.warnings.empty()) << name;
    for (const std::string& w : p.warnings) {
      EXPECT_LT(w.size(), 1200u) << name;
      for (char c : w) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20) << name << ": " << w;
    }
  }
}

}  // namespace
}  // namespace profagent
