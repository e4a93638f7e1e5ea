// Unit tests of the PROFAGENT_* parser: every variable, good and bad values.
#include "agent/core/config.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "collectors/registry.h"

namespace profagent {
namespace {

ParsedConfig parse(const std::map<std::string, std::string>& env,
                   const std::string& cwd = "/work") {
  return parse_config(
      [&env](const char* name) -> const char* {
        auto it = env.find(name);
        return it == env.end() ? nullptr : it->second.c_str();
      },
      cwd, all_kinds());
}

TEST(Config, DefaultsWhenNothingIsSet) {
  ParsedConfig p = parse({});
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.config.dir, "/work/profiles");
  EXPECT_EQ(p.config.value("cpu"), 100);
  EXPECT_EQ(p.config.value("heap"), 524288);
  EXPECT_EQ(p.config.value("mutex"), 0);
  EXPECT_EQ(p.config.value("block"), 0);
  EXPECT_TRUE(p.config.value("threads"));
  EXPECT_EQ(p.config.dump_signal, SIGUSR2);
  EXPECT_EQ(p.config.interval_seconds, 0);
  EXPECT_EQ(p.config.log_level, LogLevel::kWarn);
}

TEST(Config, GoodValuesOfEveryVariable) {
  ParsedConfig p = parse({{"PROFAGENT_DIR", "out/prof"},
                          {"PROFAGENT_CPU_HZ", "997"},
                          {"PROFAGENT_HEAP_RATE", "1"},
                          {"PROFAGENT_MUTEX_FRACTION", "5"},
                          {"PROFAGENT_BLOCK_RATE", "10000"},
                          {"PROFAGENT_THREADS", "0"},
                          {"PROFAGENT_SIGNAL", "SIGUSR1"},
                          {"PROFAGENT_INTERVAL", "30"},
                          {"PROFAGENT_LOG", "debug"}});
  EXPECT_TRUE(p.warnings.empty()) << p.warnings.front();
  EXPECT_EQ(p.config.dir, "/work/out/prof");
  EXPECT_EQ(p.config.value("cpu"), 997);
  EXPECT_EQ(p.config.value("heap"), 1);
  EXPECT_EQ(p.config.value("mutex"), 5);
  EXPECT_EQ(p.config.value("block"), 10000);
  EXPECT_FALSE(p.config.value("threads"));
  EXPECT_EQ(p.config.dump_signal, SIGUSR1);
  EXPECT_EQ(p.config.interval_seconds, 30);
  EXPECT_EQ(p.config.log_level, LogLevel::kDebug);
}

TEST(Config, DumpSignalRemembersWhetherTheUserChoseIt) {
  EXPECT_FALSE(parse({}).config.dump_signal_chosen);  // the default USR2
  EXPECT_TRUE(parse({{"PROFAGENT_SIGNAL", "USR2"}}).config.dump_signal_chosen);
  EXPECT_TRUE(parse({{"PROFAGENT_SIGNAL", "none"}}).config.dump_signal_chosen);
  ParsedConfig refused = parse({{"PROFAGENT_SIGNAL", "TERM"}});
  EXPECT_FALSE(refused.config.dump_signal_chosen);  // refused: the default stands
  EXPECT_EQ(refused.config.dump_signal, SIGUSR2);
}

TEST(Config, DirectoryForms) {
  EXPECT_EQ(parse({{"PROFAGENT_DIR", "/abs/dir"}}).config.dir, "/abs/dir");
  EXPECT_EQ(parse({{"PROFAGENT_DIR", "./rel/"}}).config.dir, "/work/rel");
  ParsedConfig empty = parse({{"PROFAGENT_DIR", "  "}});
  EXPECT_EQ(empty.config.dir, "/work/profiles");
  ASSERT_EQ(empty.warnings.size(), 1u);
  EXPECT_NE(empty.warnings[0].find("PROFAGENT_DIR"), std::string::npos);
}

TEST(Config, ZeroTurnsKindsOff) {
  ParsedConfig p = parse({{"PROFAGENT_CPU_HZ", "0"}, {"PROFAGENT_HEAP_RATE", "0"}});
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.config.value("cpu"), 0);
  EXPECT_EQ(p.config.value("heap"), 0);
}

TEST(Config, BoundsAreInclusive) {
  EXPECT_EQ(parse({{"PROFAGENT_CPU_HZ", "4000"}}).config.value("cpu"), 4000);
  EXPECT_EQ(parse({{"PROFAGENT_CPU_HZ", " 250 "}}).config.value("cpu"), 250);
  EXPECT_EQ(parse({{"PROFAGENT_CPU_HZ", "+7"}}).config.value("cpu"), 7);
}

struct BadValue {
  std::string variable;
  std::string value;
};

class ConfigBadValue : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigBadValue, WarnsNamingVariableAndValueThenUsesDefault) {
  const BadValue& bad = GetParam();
  ParsedConfig p = parse({{bad.variable, bad.value}});
  ASSERT_EQ(p.warnings.size(), 1u) << bad.variable << "=" << bad.value;
  EXPECT_NE(p.warnings[0].find(bad.variable), std::string::npos) << p.warnings[0];
  EXPECT_NE(p.warnings[0].find("'" + bad.value + "'"), std::string::npos) << p.warnings[0];
  Config defaults = parse({}).config;
  defaults.dir = "/work/profiles";
  EXPECT_EQ(p.config.dir, defaults.dir);
  EXPECT_EQ(p.config.value("cpu"), defaults.value("cpu"));
  EXPECT_EQ(p.config.value("heap"), defaults.value("heap"));
  EXPECT_EQ(p.config.value("mutex"), defaults.value("mutex"));
  EXPECT_EQ(p.config.value("block"), defaults.value("block"));
  EXPECT_EQ(p.config.value("threads"), defaults.value("threads"));
  EXPECT_EQ(p.config.dump_signal, defaults.dump_signal);
  EXPECT_EQ(p.config.interval_seconds, defaults.interval_seconds);
  EXPECT_EQ(p.config.log_level, defaults.log_level);
}

INSTANTIATE_TEST_SUITE_P(
    EveryVariable, ConfigBadValue,
    ::testing::Values(
        BadValue{"PROFAGENT_CPU_HZ", "abc"}, BadValue{"PROFAGENT_CPU_HZ", ""},
        BadValue{"PROFAGENT_CPU_HZ", "-5"}, BadValue{"PROFAGENT_CPU_HZ", "4001"},
        BadValue{"PROFAGENT_CPU_HZ", "99999999999999999999999"},
        BadValue{"PROFAGENT_CPU_HZ", "100hz"}, BadValue{"PROFAGENT_CPU_HZ", "1e3"},
        BadValue{"PROFAGENT_HEAP_RATE", "lots"}, BadValue{"PROFAGENT_HEAP_RATE", "-1"},
        BadValue{"PROFAGENT_HEAP_RATE", "18446744073709551616"},
        BadValue{"PROFAGENT_HEAP_RATE", "0x100"},
        BadValue{"PROFAGENT_MUTEX_FRACTION", "half"},
        BadValue{"PROFAGENT_MUTEX_FRACTION", "-3"},
        BadValue{"PROFAGENT_MUTEX_FRACTION", "2147483648"},
        BadValue{"PROFAGENT_BLOCK_RATE", "1.5"}, BadValue{"PROFAGENT_BLOCK_RATE", "-10"},
        BadValue{"PROFAGENT_BLOCK_RATE", "9999999999999999999999999"},
        BadValue{"PROFAGENT_THREADS", "maybe"}, BadValue{"PROFAGENT_THREADS", "2"},
        BadValue{"PROFAGENT_THREADS", ""},
        BadValue{"PROFAGENT_SIGNAL", "USR9"}, BadValue{"PROFAGENT_SIGNAL", "KILL"},
        BadValue{"PROFAGENT_SIGNAL", "SIGSEGV"}, BadValue{"PROFAGENT_SIGNAL", "PROF"},
        BadValue{"PROFAGENT_SIGNAL", "0"}, BadValue{"PROFAGENT_SIGNAL", "999"},
        BadValue{"PROFAGENT_SIGNAL", ""}, BadValue{"PROFAGENT_SIGNAL", "-12"},
        BadValue{"PROFAGENT_INTERVAL", "soon"}, BadValue{"PROFAGENT_INTERVAL", "-1"},
        BadValue{"PROFAGENT_INTERVAL", "31536001"},
        BadValue{"PROFAGENT_LOG", "verbose"}, BadValue{"PROFAGENT_LOG", ""}),
    [](const ::testing::TestParamInfo<BadValue>& info) {
      return info.param.variable.substr(10) + "_" + std::to_string(info.index);
    });

TEST(Config, SignalSpellings) {
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "USR1"}}).config.dump_signal, SIGUSR1);
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "usr1"}}).config.dump_signal, SIGUSR1);
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "sigusr2"}}).config.dump_signal, SIGUSR2);
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "10"}}).config.dump_signal, 10);
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "WINCH"}}).config.dump_signal, SIGUSR2);  // refused
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", "none"}}).config.dump_signal, 0);
  EXPECT_EQ(parse({{"PROFAGENT_SIGNAL", std::to_string(SIGRTMIN + 1)}}).config.dump_signal,
            SIGRTMIN + 1);
}

TEST(Config, BooleanAndLogSpellings) {
  EXPECT_TRUE(parse({{"PROFAGENT_THREADS", "true"}}).config.value("threads"));
  EXPECT_FALSE(parse({{"PROFAGENT_THREADS", "off"}}).config.value("threads"));
  EXPECT_EQ(parse({{"PROFAGENT_LOG", "TRACE"}}).config.log_level, LogLevel::kTrace);
  EXPECT_EQ(parse({{"PROFAGENT_LOG", "off"}}).config.log_level, LogLevel::kOff);
  EXPECT_EQ(parse({{"PROFAGENT_LOG", "error"}}).config.log_level, LogLevel::kError);
  EXPECT_EQ(parse({{"PROFAGENT_LOG", "info"}}).config.log_level, LogLevel::kInfo);
}

TEST(Config, SeveralBadValuesGiveOneWarningEach) {
  ParsedConfig p = parse({{"PROFAGENT_CPU_HZ", "x"}, {"PROFAGENT_LOG", "y"},
                          {"PROFAGENT_INTERVAL", "z"}, {"PROFAGENT_HEAP_RATE", "4096"}});
  EXPECT_EQ(p.warnings.size(), 3u);
  EXPECT_EQ(p.config.value("heap"), 4096);
}

TEST(Config, IntervalAcceptsDecimalSeconds) {
  ParsedConfig p = parse({{"PROFAGENT_INTERVAL", "0.2"}});
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.config.interval_nanos, 200000000);
  EXPECT_EQ(p.config.interval_seconds, 0);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", "30"}}).config.interval_nanos, 30000000000);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", "1.5"}}).config.interval_nanos, 1500000000);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", "1.5"}}).config.interval_seconds, 1);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", ".25"}}).config.interval_nanos, 250000000);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", "0"}}).config.interval_nanos, 0);
  EXPECT_EQ(parse({{"PROFAGENT_INTERVAL", "0.05"}}).config.interval_nanos, 50000000);
  for (const char* bad : {"0.049", "0.0001", "1.", "1.2.3", "1,5", "-0.5", "0.2s", "31536000.5"}) {
    ParsedConfig b = parse({{"PROFAGENT_INTERVAL", bad}});
    ASSERT_EQ(b.warnings.size(), 1u) << bad;
    EXPECT_NE(b.warnings[0].find(std::string("PROFAGENT_INTERVAL='") + bad + "'"),
              std::string::npos);
    EXPECT_EQ(b.config.interval_nanos, 0) << bad;
  }
}

TEST(Config, PushVariables) {
  ParsedConfig p = parse({{"PROFAGENT_PUSH_URL", "http://127.0.0.1:4040/"},
                          {"PROFAGENT_APP_NAME", "checkout.svc"},
                          {"PROFAGENT_TAGS", "env=prod,region=eu-1"}});
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.config.push_url, "http://127.0.0.1:4040");  // trailing '/' dropped
  EXPECT_EQ(p.config.app_name, "checkout.svc");
  ASSERT_EQ(p.config.tags.size(), 2u);
  EXPECT_EQ(p.config.tags[1].first, "region");
  EXPECT_EQ(p.config.tags[1].second, "eu-1");
  EXPECT_TRUE(parse({}).config.push_url.empty());
  EXPECT_TRUE(parse({{"PROFAGENT_PUSH_URL", ""}}).warnings.empty());
}

TEST(Config, BadPushVariablesWarnOnceEach) {
  ParsedConfig p = parse({{"PROFAGENT_PUSH_URL", "localhost:4040"},
                          {"PROFAGENT_APP_NAME", "my app"},
                          {"PROFAGENT_TAGS", "env=prod,bad tag,also bad=x y,ok=1"}});
  ASSERT_EQ(p.warnings.size(), 3u);
  EXPECT_NE(p.warnings[0].find("PROFAGENT_PUSH_URL='localhost:4040'"), std::string::npos);
  EXPECT_NE(p.warnings[1].find("PROFAGENT_APP_NAME='my app'"), std::string::npos);
  EXPECT_NE(p.warnings[2].find("'bad tag', 'also bad=x y'"), std::string::npos);
  EXPECT_TRUE(p.config.push_url.empty());
  EXPECT_TRUE(p.config.app_name.empty());
  ASSERT_EQ(p.config.tags.size(), 2u);  // the good ones stay
  EXPECT_EQ(p.config.tags[0].first, "env");
  EXPECT_EQ(p.config.tags[1].first, "ok");
}

TEST(Config, HttpListenAddress) {
  EXPECT_EQ(parse({}).config.http, "");  // off unless set
  ParsedConfig p = parse({{"PROFAGENT_HTTP", "127.0.0.1:6060"}});
  EXPECT_TRUE(p.warnings.empty());
  EXPECT_EQ(p.config.http, "127.0.0.1:6060");
  EXPECT_EQ(parse({{"PROFAGENT_HTTP", ":6060"}}).config.http, "127.0.0.1:6060");  // loopback
  EXPECT_EQ(parse({{"PROFAGENT_HTTP", "[::1]:0"}}).config.http, "[::1]:0");
  EXPECT_EQ(parse({{"PROFAGENT_HTTP", "0.0.0.0:6060"}}).config.http, "0.0.0.0:6060");
  ParsedConfig empty = parse({{"PROFAGENT_HTTP", ""}});
  EXPECT_TRUE(empty.warnings.empty());
  EXPECT_EQ(empty.config.http, "");
  ParsedConfig bad = parse({{"PROFAGENT_HTTP", "localhost:http"}});
  ASSERT_EQ(bad.warnings.size(), 1u);
  EXPECT_EQ(bad.warnings[0],
            "PROFAGENT_HTTP='localhost:http' is not a listen address like 127.0.0.1:6060, "
            "[::1]:6060 or :6060; using no HTTP server");
  EXPECT_EQ(bad.config.http, "");
}

TEST(Config, SymbolCacheDirectory) {
  EXPECT_EQ(parse({{"HOME", "/home/u"}}).config.symbol_cache_dir, "/home/u/.cache/profagent");
  EXPECT_EQ(parse({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/c"}}).config.symbol_cache_dir,
            "/c/profagent");
  EXPECT_EQ(parse({}).config.symbol_cache_dir, "");  // no home: no cache, no warning
  EXPECT_EQ(parse({{"PROFAGENT_SYMBOL_CACHE", "off"}, {"HOME", "/h"}}).config.symbol_cache_dir,
            "");
  ParsedConfig dir = parse({{"PROFAGENT_SYMBOL_CACHE", "/var/cache/x"}});
  EXPECT_TRUE(dir.warnings.empty());
  EXPECT_EQ(dir.config.symbol_cache_dir, "/var/cache/x");
  ParsedConfig bad = parse({{"PROFAGENT_SYMBOL_CACHE", "relative/dir"}, {"HOME", "/h"}});
  ASSERT_EQ(bad.warnings.size(), 1u);
  EXPECT_EQ(bad.warnings[0],
            "PROFAGENT_SYMBOL_CACHE='relative/dir' is not an absolute directory path or off; "
            "using the default cache directory");
  EXPECT_EQ(bad.config.symbol_cache_dir, "/h/.cache/profagent");
}

}  // namespace
}  // namespace profagent

namespace profagent {
namespace {

TEST(Config, ChildrenVariable) {
  EXPECT_TRUE(parse({}).config.children);
  EXPECT_FALSE(parse({{"PROFAGENT_CHILDREN", "0"}}).config.children);
  EXPECT_TRUE(parse({{"PROFAGENT_CHILDREN", "1"}}).config.children);
  ParsedConfig bad = parse({{"PROFAGENT_CHILDREN", "some"}});
  EXPECT_TRUE(bad.config.children);
  ASSERT_EQ(bad.warnings.size(), 1u);
  EXPECT_NE(bad.warnings[0].find("PROFAGENT_CHILDREN='some'"), std::string::npos);
}

TEST(Config, PasswordOfABadPushUrlIsNotInTheWarning) {
  ParsedConfig p = parse({{"PROFAGENT_PUSH_URL", "http://bob:hunter2@host:99999"},
                          {"PROFAGENT_HTTP", "http://bob:hunter2@host:1"}});
  ASSERT_EQ(p.warnings.size(), 2u);
  for (const std::string& w : p.warnings) {
    EXPECT_EQ(w.find("hunter2"), std::string::npos) << w;
    EXPECT_EQ(w.find("bob"), std::string::npos) << w;
    EXPECT_NE(w.find("http://host:"), std::string::npos) << w;
  }
  // A good URL keeps its credentials for the push itself.
  EXPECT_EQ(parse({{"PROFAGENT_PUSH_URL", "http://bob:hunter2@host:4040"}}).config.push_url,
            "http://bob:hunter2@host:4040");
}

}  // namespace
}  // namespace profagent
