// Unit tests of push URL checks, app names, PROFAGENT_TAGS parsing and the ingest key.
#include "agent/push_labels.h"

#include <gtest/gtest.h>

namespace profagent {
namespace {

TEST(PushLabels, UsableUrls) {
  EXPECT_EQ(push_url_problem("http://127.0.0.1:4040"), "");
  EXPECT_EQ(push_url_problem("http://pyroscope"), "");
  EXPECT_EQ(push_url_problem("https://user:secret@profiles.example.com/prefix"), "");
  EXPECT_EQ(push_url_problem("http://[::1]:4040"), "");
}

TEST(PushLabels, RefusedUrls) {
  EXPECT_NE(push_url_problem("127.0.0.1:4040"), "");          // no scheme
  EXPECT_NE(push_url_problem("ftp://host"), "");               // wrong scheme
  EXPECT_NE(push_url_problem("http://"), "");                  // no host
  EXPECT_NE(push_url_problem("http://host:"), "");             // empty port
  EXPECT_NE(push_url_problem("http://host:0"), "");
  EXPECT_NE(push_url_problem("http://host:65536"), "");
  EXPECT_NE(push_url_problem("http://host:http"), "");
  EXPECT_NE(push_url_problem("http://host/ingest?x=1"), "");   // query
  EXPECT_NE(push_url_problem("http://ho st"), "");
  EXPECT_NE(push_url_problem("http://[::1"), "");
}

TEST(PushLabels, AppNames) {
  EXPECT_TRUE(valid_app_name("checkout-svc.v2"));
  EXPECT_TRUE(valid_app_name("team/app:prod_1"));
  EXPECT_FALSE(valid_app_name(""));
  EXPECT_FALSE(valid_app_name("a{b}"));
  EXPECT_FALSE(valid_app_name("a,b"));
  EXPECT_FALSE(valid_app_name("with space"));
  EXPECT_FALSE(valid_app_name(std::string(129, 'a')));
  EXPECT_EQ(sanitize_app_name("my app{1}"), "my_app_1_");
  EXPECT_EQ(sanitize_app_name(""), "app");
  EXPECT_EQ(sanitize_app_name("python3.11"), "python3.11");
}

TEST(PushLabels, GoodTags) {
  ParsedTags p = parse_tags("env=prod, region=eu-west-1 ,version=1.2.3,pod=web/7");
  EXPECT_TRUE(p.bad.empty());
  ASSERT_EQ(p.tags.size(), 4u);
  EXPECT_EQ(p.tags[0], (std::pair<std::string, std::string>{"env", "prod"}));
  EXPECT_EQ(p.tags[1], (std::pair<std::string, std::string>{"region", "eu-west-1"}));
  EXPECT_EQ(p.tags[2].second, "1.2.3");
  EXPECT_EQ(p.tags[3].second, "web/7");
}

TEST(PushLabels, BadTagsAreDroppedAndReported) {
  ParsedTags p = parse_tags("env=prod,novalue,=x,1key=v,__name__=cpu,service_name=s,k=a b,"
                            "k2={x},ok=1,,");
  ASSERT_EQ(p.tags.size(), 2u);
  EXPECT_EQ(p.tags[0].first, "env");
  EXPECT_EQ(p.tags[1].first, "ok");
  EXPECT_EQ(p.bad, (std::vector<std::string>{"novalue", "=x", "1key=v", "__name__=cpu",
                                              "service_name=s", "k=a b", "k2={x}"}));
}

TEST(PushLabels, DuplicateTagKeepsTheLastValue) {
  ParsedTags p = parse_tags("env=a,env=b");
  ASSERT_EQ(p.tags.size(), 1u);
  EXPECT_EQ(p.tags[0].second, "b");
}

TEST(PushLabels, IngestName) {
  EXPECT_EQ(ingest_name("app", {}), "app");
  EXPECT_EQ(ingest_name("app", {{"env", "prod"}, {"region", "eu"}}), "app{env=prod,region=eu}");
}

}  // namespace
}  // namespace profagent
