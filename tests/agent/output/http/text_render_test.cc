// Unit tests of the ?debug=1 (grouped stacks) and ?debug=2 (per-thread dump) text forms.
#include "agent/output/http/text_render.h"

#include <gtest/gtest.h>

#include "tests/agent/output/http/profile_fixture.h"

namespace profagent {
namespace {

using testing::ProfileFixture;
using Stack = std::vector<uint64_t>;
using Values = std::vector<int64_t>;

std::vector<Label> thread(int tid, const std::string& name) {
  return {ProfileBuilder::num_label("tid", tid), ProfileBuilder::str_label("thread_name", name)};
}

ProfileFixture threads_profile() {
  ProfileFixture f({{"threads", "count"}});
  uint64_t spin = f.location(0x1011, "spin");
  uint64_t worker = f.location(0x2022, "worker");
  uint64_t wait = f.location(0x3033, "wait_here");
  uint64_t main_fn = f.location(0x4044, "main");
  for (int tid : {12, 11})
    f.builder.add_sample(Stack{spin, worker}, Values{1}, thread(tid, "busy-" + std::to_string(tid)));
  f.builder.add_sample(Stack{wait, main_fn}, Values{1}, thread(10, "app"));
  return f;
}

TEST(TextRender, GroupedStacksLargestFirstIgnoringThreadLabels) {
  std::string text = render_grouped_text(threads_profile().symbolized(), "goroutine");
  EXPECT_EQ(text,
            "goroutine profile: total 3\n"
            "\n"
            "2 @ 0x1011 0x2022\n"
            "#\t0x1011\tspin\tf.c:13\n"
            "#\t0x2022\tworker\tf.c:26\n"
            "\n"
            "1 @ 0x3033 0x4044\n"
            "#\t0x3033\twait_here\tf.c:39\n"
            "#\t0x4044\tmain\tf.c:52\n");
}

TEST(TextRender, MultiValueProfilesNameTheirColumns) {
  ProfileFixture f({{"contentions", "count"}, {"delay", "nanoseconds"}});
  f.builder.add_sample(Stack{f.location(0x10, "unlock_site")}, Values{3, 4500});
  std::string text = render_grouped_text(f.symbolized(), "mutex");
  EXPECT_NE(text.find("mutex profile: total 3\n# values: contentions/count delay/nanoseconds\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("3 4500 @ 0x10\n#\t0x10\tunlock_site\tf.c:16\n"), std::string::npos)
      << text;
}

TEST(TextRender, ThreadDumpEveryThreadByTid) {
  std::string text = render_thread_dump(threads_profile().symbolized());
  EXPECT_EQ(text,
            "thread 10 [app]:\n"
            "wait_here()\n\tf.c:39 0x3033\n"
            "main()\n\tf.c:52 0x4044\n"
            "\n"
            "thread 11 [busy-11]:\n"
            "spin()\n\tf.c:13 0x1011\n"
            "worker()\n\tf.c:26 0x2022\n"
            "\n"
            "thread 12 [busy-12]:\n"
            "spin()\n\tf.c:13 0x1011\n"
            "worker()\n\tf.c:26 0x2022\n"
            "\n");
}

TEST(TextRender, InlineFramesSyntheticFramesAndUnnamedThreads) {
  ProfileFixture f({{"threads", "count"}});
  uint64_t id = f.location(0x50, std::vector<std::string>{"inlined", "outer"});
  f.builder.add_sample(Stack{id}, Values{1}, {ProfileBuilder::num_label("tid", 5)});
  f.builder.add_synthetic_sample("[profagent: lost]", Values{2});
  SymbolizedProfile p = f.symbolized();
  std::string text = render_grouped_text(p, "threads");
  EXPECT_NE(text.find("#\t0x50\tinlined\n#\t0x50\touter\tf.c:80\n"), std::string::npos) << text;
  EXPECT_NE(text.find("2 @ 0x0\n#\t0x0\t[profagent: lost]\n"), std::string::npos) << text;
  std::string dump = render_thread_dump(p);
  EXPECT_NE(dump.find("thread 5 [?]:\ninlined()\n\t? 0x50\nouter()\n\tf.c:80 0x50\n"),
            std::string::npos) << dump;
  EXPECT_NE(dump.find("thread ? [?] x2:\n[profagent: lost]()\n\t? 0x0\n"), std::string::npos)
      << dump;
}

}  // namespace
}  // namespace profagent
