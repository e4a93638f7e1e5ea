// Unit tests of ingest request building: query parameters and the multipart body, parsed
// back here the way a server's multipart reader does.
#include "agent/output/push/ingest_request.h"

#include <gtest/gtest.h>

#include <map>

#include "agent/output/push/sample_type_config.h"
#include "collectors/registry.h"

namespace profagent {
namespace {

struct Part {
  std::string disposition, type, content;
};

// Minimal multipart/form-data reader (RFC 7578): parts by field name.
std::map<std::string, Part> parse_multipart(const std::string& body, const std::string& boundary) {
  std::map<std::string, Part> parts;
  std::string delim = "--" + boundary;
  size_t pos = body.find(delim);
  EXPECT_EQ(pos, 0u);
  while (pos != std::string::npos) {
    pos += delim.size();
    if (body.compare(pos, 2, "--") == 0) {
      EXPECT_EQ(body.substr(pos), "--\r\n");
      break;
    }
    EXPECT_EQ(body.compare(pos, 2, "\r\n"), 0);
    pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    std::string head = body.substr(pos, head_end - pos);
    size_t next = body.find("\r\n" + delim, head_end + 4);
    Part part;
    part.content = body.substr(head_end + 4, next - head_end - 4);
    size_t line = 0;
    while (line < head.size()) {
      size_t e = head.find("\r\n", line);
      if (e == std::string::npos) e = head.size();
      std::string h = head.substr(line, e - line);
      if (h.rfind("Content-Disposition: ", 0) == 0) part.disposition = h.substr(21);
      if (h.rfind("Content-Type: ", 0) == 0) part.type = h.substr(14);
      line = e + 2;
    }
    size_t n = part.disposition.find("name=\"");
    std::string name = part.disposition.substr(n + 6, part.disposition.find('"', n + 6) - n - 6);
    parts[name] = part;
    pos = next == std::string::npos ? next : next + 2;
  }
  return parts;
}

TEST(IngestRequest, UrlEncoding) {
  EXPECT_EQ(url_encode("app{env=prod,r=eu-1}"), "app%7Benv%3Dprod%2Cr%3Deu-1%7D");
  EXPECT_EQ(url_encode("a b/c~_."), "a%20b%2Fc~_.");
}

TEST(IngestRequest, QueryHasEveryParameter) {
  IngestRequest r = build_ingest_request("http://127.0.0.1:4040", "app{env=prod}", 100, 110,
                                         "\x1f\x8b-profile", "{}", 7);
  EXPECT_EQ(r.url,
            "http://127.0.0.1:4040/ingest?name=app%7Benv%3Dprod%7D&from=100&until=110"
            "&format=pprof&spyName=profagent");
  EXPECT_EQ(r.content_type.rfind("multipart/form-data; boundary=profagent-", 0), 0u);
}

TEST(IngestRequest, MultipartBodyHasProfileAndSampleTypeConfig) {
  std::string profile("\x1f\x8b\x08\x00binary\r\n--not-a-boundary\0tail", 38);
  std::string config = sample_type_config_json(*find_kind("heap"));
  IngestRequest r = build_ingest_request("http://h", "app", 1, 2, profile, config, 42);
  std::string boundary = r.content_type.substr(r.content_type.find('=') + 1);
  auto parts = parse_multipart(r.body, boundary);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts["profile"].content, profile);
  EXPECT_EQ(parts["profile"].disposition,
            "form-data; name=\"profile\"; filename=\"profile.pprof\"");
  EXPECT_EQ(parts["profile"].type, "application/octet-stream");
  EXPECT_EQ(parts["sample_type_config"].content, config);
  EXPECT_EQ(parts["sample_type_config"].type, "application/json");
}

TEST(IngestRequest, NoConfigPartForAnUnknownKind) {
  IngestRequest r = build_ingest_request("http://h", "app", 1, 2, "x", "", 1);
  std::string boundary = r.content_type.substr(r.content_type.find('=') + 1);
  auto parts = parse_multipart(r.body, boundary);
  EXPECT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts.count("profile"), 1u);
}

TEST(IngestRequest, BoundaryNeverOccursInTheContent) {
  std::string clash = "..." + make_boundary(5) + "...";
  IngestRequest r = build_ingest_request("http://h", "app", 1, 2, clash, "", 5);
  std::string boundary = r.content_type.substr(r.content_type.find('=') + 1);
  EXPECT_NE(boundary, make_boundary(5));
  EXPECT_EQ(clash.find(boundary), std::string::npos);
  EXPECT_EQ(parse_multipart(r.body, boundary)["profile"].content, clash);
}

TEST(SampleTypeConfig, NamesDecidePyroscopeProfileNames) {
  // Pyroscope names a profile process_cpu when a display name contains "cpu", memory for
  // alloc_/inuse_, mutex for mutex_, block for block_.
  EXPECT_NE(sample_type_config_json(*find_kind("cpu")).find(R"("samples":{"units":"samples","display-name":"cpu")"),
            std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("heap")).find(R"("inuse_space":{"units":"bytes","aggregation":"average"})"),
            std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("heap")).find(R"("alloc_space":{"units":"bytes","aggregation":"sum"})"),
            std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("mutex")).find("\"display-name\":\"mutex_count\""), std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("mutex")).find("\"display-name\":\"mutex_duration\""), std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("block")).find("\"display-name\":\"block_count\""), std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("block")).find("\"display-name\":\"block_duration\""), std::string::npos);
  EXPECT_EQ(sample_type_config_json(*find_kind("block")).find("mutex"), std::string::npos);
  EXPECT_NE(sample_type_config_json(*find_kind("threads")), "");
  EXPECT_TRUE(subtracts_in_delta(*find_kind("heap"), 1));   // alloc_space
  EXPECT_TRUE(subtracts_in_delta(*find_kind("block"), 1));  // delay
  EXPECT_FALSE(subtracts_in_delta(*find_kind("heap"), 3));  // inuse_space
  EXPECT_FALSE(subtracts_in_delta(*find_kind("cpu"), 1));   // a window already
}

}  // namespace
}  // namespace profagent
