// Unit tests of push URL checks, app names, PROFAGENT_TAGS parsing and the ingest key.
#include "agent/core/push_labels.h"

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

namespace profagent {
namespace {

TEST(UrlCredentials, SplitKeepsThemOutOfTheUrl) {
  UrlCredentials c = split_url_credentials("https://alice:s3cr%40t%3A@pyro.example.com:4040/p");
  EXPECT_EQ(c.url, "https://pyro.example.com:4040/p");
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.password, "s3cr@t:");
  c = split_url_credentials("http://token@host");
  EXPECT_EQ(c.url, "http://host");
  EXPECT_EQ(c.user, "token");
  EXPECT_EQ(c.password, "");
  c = split_url_credentials("http://host:4040/a@b");  // '@' in the path is not user info
  EXPECT_EQ(c.url, "http://host:4040/a@b");
  EXPECT_EQ(c.user, "");
  c = split_url_credentials("http://[::1]:4040");
  EXPECT_EQ(c.url, "http://[::1]:4040");
}

TEST(UrlCredentials, RedactRemovesUserAndPasswordWherever) {
  EXPECT_EQ(redact_url("http://user:password@host:4040"), "http://host:4040");
  EXPECT_EQ(redact_url("http://host:4040"), "http://host:4040");
  EXPECT_EQ(redact_url("no url here"), "no url here");
  EXPECT_EQ(redact_url("push to 'https://u:p@a/x' and http://v:q@b failed"),
            "push to 'https://a/x' and http://b failed");
  EXPECT_EQ(redact_url("PROFAGENT_PUSH_URL=ftp://u:p@a"), "PROFAGENT_PUSH_URL=ftp://a");
  std::string r = redact_url("http://user:pa:ss@w@rd@host/x");
  EXPECT_EQ(r.find("pa"), std::string::npos) << r;
  EXPECT_EQ(r, "http://host/x");
}

}  // namespace
}  // namespace profagent
