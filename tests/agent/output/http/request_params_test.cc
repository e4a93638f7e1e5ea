// Unit tests of the seconds/debug query parameters: defaults, bounds, refusals.
#include "agent/output/http/request_params.h"

#include <gtest/gtest.h>

namespace profagent {
namespace {

TEST(RequestParams, CpuDefaultsToThirtySeconds) {
  ParamResult r = parse_request_params(nullptr, nullptr, /*cpu=*/true);
  ASSERT_TRUE(r.params);
  EXPECT_EQ(r.params->seconds, 30);
  EXPECT_EQ(r.params->debug, 0);
}

TEST(RequestParams, SnapshotKindsAreCumulativeWithoutSeconds) {
  ParamResult r = parse_request_params(nullptr, nullptr, /*cpu=*/false);
  ASSERT_TRUE(r.params);
  EXPECT_EQ(r.params->seconds, 0);
}

TEST(RequestParams, GoodValues) {
  ParamResult r = parse_request_params("2", "1", true);
  ASSERT_TRUE(r.params);
  EXPECT_EQ(r.params->seconds, 2);
  EXPECT_EQ(r.params->debug, 1);
  r = parse_request_params("300", "2", false);
  ASSERT_TRUE(r.params);
  EXPECT_EQ(r.params->seconds, 300);
  EXPECT_EQ(r.params->debug, 2);
  r = parse_request_params("0", "0", false);  // explicit 0: cumulative
  ASSERT_TRUE(r.params);
  EXPECT_EQ(r.params->seconds, 0);
}

TEST(RequestParams, BoundsAndGarbageAreRefused) {
  ParamResult r = parse_request_params("301", nullptr, true);
  EXPECT_FALSE(r.params);
  EXPECT_NE(r.error.find("exceeds the maximum of 300"), std::string::npos) << r.error;
  r = parse_request_params("999999", nullptr, false);
  EXPECT_FALSE(r.params);
  r = parse_request_params("99999999999999999999999", nullptr, true);
  EXPECT_FALSE(r.params);
  EXPECT_NE(r.error.find("not a whole number"), std::string::npos) << r.error;
  for (const char* bad : {"", "-1", "1.5", "1s", " 2", "0x10"}) {
    EXPECT_FALSE(parse_request_params(bad, nullptr, true).params) << bad;
  }
  EXPECT_FALSE(parse_request_params("0", nullptr, true).params);  // a CPU window of 0 s
  EXPECT_FALSE(parse_request_params(nullptr, "3", false).params);
  EXPECT_FALSE(parse_request_params(nullptr, "yes", false).params);
}

TEST(RequestParams, ErrorEchoIsBounded) {
  std::string huge(5000, '9');
  huge += "x";
  ParamResult r = parse_request_params(huge.c_str(), nullptr, true);
  EXPECT_FALSE(r.params);
  EXPECT_LT(r.error.size(), 200u);
}

}  // namespace
}  // namespace profagent
