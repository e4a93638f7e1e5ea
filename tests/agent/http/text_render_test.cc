// Unit tests of the ?debug=1 (grouped stacks) and ?debug=2 (per-thread dump) text forms.
#include "agent/http/text_render.h"

#include <gtest/gtest.h>

#include "tests/agent/http/profile_fixture.h"

namespace profagent {
namespace {

using testing::ProfileFixture;

ProfileFixture threads_profile() {
  ProfileFixture f({{"threads", "count"}});
  uint64_t spin = f.location(0x1011, "spin");
  uint64_t worker = f.location(0x2022, "worker");
  uint64_t wait = f.location(0x3033, "wait_here");
  uint64_t main_fn = f.location(0x4044, "main");
  for (int tid : {12, 11}) {
    auto* s = f.sample({spin, worker}, {1});
    f.num_label(s, "tid", tid);
    f.str_label(s, "thread_name", "busy-" + std::to_string(tid));
  }
  auto* s = f.sample({wait, main_fn}, {1});
  f.num_label(s, "tid", 10);
  f.str_label(s, "thread_name", "app");
  return f;
}

TEST(TextRender, GroupedStacksLargestFirstIgnoringThreadLabels) {
  ProfileFixture f = threads_profile();
  std::string text = render_grouped_text(f.p, "goroutine");
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
  f.sample({f.location(0x10, "unlock_site")}, {3, 4500});
  std::string text = render_grouped_text(f.p, "mutex");
  EXPECT_NE(text.find("mutex profile: total 3\n# values: contentions/count delay/nanoseconds\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("3 4500 @ 0x10\n#\t0x10\tunlock_site\tf.c:16\n"), std::string::npos)
      << text;
}

TEST(TextRender, ThreadDumpEveryThreadByTid) {
  ProfileFixture f = threads_profile();
  std::string text = render_thread_dump(f.p);
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

TEST(TextRender, InlineFramesAndUnknownsAreShown) {
  ProfileFixture f({{"threads", "count"}});
  uint64_t id = f.location(0x50, "outer");
  // Add an inlined frame in front of "outer" at the same location.
  auto* fn = f.p.add_function();
  fn->set_id(99);
  fn->set_name(f.str("inlined"));
  auto* loc = f.p.mutable_location(0);
  auto* line = loc->add_line();
  *line = loc->line(0);
  loc->mutable_line(0)->set_function_id(99);
  loc->mutable_line(0)->set_line(7);
  auto* s = f.sample({id, 12345}, {1});  // 12345: no such location
  f.num_label(s, "tid", 5);
  std::string text = render_grouped_text(f.p, "threads");
  EXPECT_NE(text.find("#\t0x50\tinlined\n#\t0x50\touter\tf.c:80\n"), std::string::npos) << text;
  EXPECT_NE(text.find("1 @ 0x50 0x0\n"), std::string::npos) << text;
  std::string dump = render_thread_dump(f.p);
  EXPECT_NE(dump.find("thread 5 [?]:\ninlined()\n\t? 0x50\nouter()\n\tf.c:80 0x50\n"),
            std::string::npos) << dump;
}

}  // namespace
}  // namespace profagent
