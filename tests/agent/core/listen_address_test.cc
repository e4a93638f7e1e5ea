// Unit tests of PROFAGENT_HTTP address parsing: loopback defaults, explicit other
// addresses flagged, malformed values refused.
#include "agent/core/listen_address.h"

#include <gtest/gtest.h>

namespace profagent {
namespace {

TEST(ListenAddress, LoopbackForms) {
  for (const char* text : {"127.0.0.1:6060", ":6060", "6060", "localhost:6060", " 127.0.0.1:6060 "}) {
    auto a = parse_listen_address(text);
    ASSERT_TRUE(a) << text;
    EXPECT_FALSE(a->ipv6);
    EXPECT_TRUE(a->loopback) << text;
    EXPECT_EQ(a->port, 6060);
    EXPECT_EQ(a->text, "127.0.0.1:6060") << text;
  }
  auto v6 = parse_listen_address("[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->ipv6);
  EXPECT_TRUE(v6->loopback);
  EXPECT_EQ(v6->text, "[::1]:7000");
  auto other_loop = parse_listen_address("127.0.0.2:1");
  ASSERT_TRUE(other_loop);
  EXPECT_TRUE(other_loop->loopback);
}

TEST(ListenAddress, PortZeroMeansAnyFreePort) {
  auto a = parse_listen_address("127.0.0.1:0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 0);
}

TEST(ListenAddress, NonLoopbackOnlyWhenWrittenOut) {
  auto any = parse_listen_address("0.0.0.0:6060");
  ASSERT_TRUE(any);
  EXPECT_FALSE(any->loopback);
  auto lan = parse_listen_address("10.1.2.3:6060");
  ASSERT_TRUE(lan);
  EXPECT_FALSE(lan->loopback);
  auto any6 = parse_listen_address("[::]:6060");
  ASSERT_TRUE(any6);
  EXPECT_FALSE(any6->loopback);
}

TEST(ListenAddress, Malformed) {
  for (const char* text : {"", "  ", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536",
                           "127.0.0.1:-1", "127.0.0.1:60x", "::1:6060", "[::1]6060", "[]:1",
                           "example.com:6060", "256.0.0.1:80", "127.0.0.1:123456"}) {
    EXPECT_FALSE(parse_listen_address(text)) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace profagent
