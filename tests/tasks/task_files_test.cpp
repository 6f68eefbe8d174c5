// The context and continuation strings built from fixed rows of every task file in
// ../shared/data/zeroshot (expected strings written out from the files by hand, following the
// task table in docs/zeroshot.md), the document counts, and one-line errors for bad task input.
#include <gtest/gtest.h>

#include <fstream>

#include "lopper/tasks/presets.h"
#include "lopper/tasks/task_registry.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "data/data_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

DataDirs shared_data() { return DataDirs{test::shared_dir() / "data", {}, {}}; }

TaskData load(const std::string& name, int64_t limit = 0) {
  return load_task(name, shared_data(), Harness::V04, limit);
}

TEST(TaskFiles, Piqa) {
  LOPPER_REQUIRE_SHARED();
  auto t = load("piqa", 2);
  ASSERT_EQ(t.docs.size(), 2u);
  const auto& d = t.docs[1];  // choices keep their trailing spaces (the llm-foundry copy lost them)
  EXPECT_EQ(d.requests[0].context, "Question: dresser\nAnswer:");
  EXPECT_EQ(d.requests[0].continuation, " replace drawer with bobby pin ");
  EXPECT_EQ(d.requests[1].continuation, " finish, woodgrain with  bobby pin ");
  EXPECT_EQ(d.choice_chars, (std::vector<int64_t>{30, 34}));
  EXPECT_EQ(d.gold, 1);
  EXPECT_EQ(t.docs[0].gold, 0);
  EXPECT_EQ(t.metrics, (std::vector<std::string>{"acc", "acc_norm"}));
}

TEST(TaskFiles, Hellaswag) {
  LOPPER_REQUIRE_SHARED();
  auto t = load("hellaswag", 4);
  EXPECT_EQ(t.docs[0].requests[0].context,
            "Pole vault: Pole vault is a sport where you run with a pole and stop and swing your body. A few women");
  EXPECT_EQ(t.docs[0].requests[3].continuation,
            " are in the gym practicing to do this pole vault, trying to do their best.");
  EXPECT_EQ(t.docs[0].gold, 3);
  // Row 4: [header]/[title]/[step] cleanup, an empty ctx_b, and an ending that starts with "[title] If".
  const auto& d = t.docs[3];
  EXPECT_EQ(d.requests[0].context,
            "Sports and Fitness: How to bowl the leg spinner's variations. To bowl a googly, you grip the ball the same "
            "as you would for a leg break but hold it so your palm faces away from you. As you bowl, you bring your "
            "elbow close to your head and cock your wrist so that back of your hand faces the batsman. You spin the "
            "ball by rotating the fingers.");
  EXPECT_EQ(d.requests[0].continuation,
            "  If you're outside, the batsman only looks at the batsman as they dribble.. If you're inside, the batsman "
            "lets you line up the batsman with you.");
  EXPECT_EQ(d.requests[1].continuation,
            " Bring your wrist back towards your head so that the ball is back in front of your body and your fist will "
            "be holding the ball. A barbell is not needed for this style of bowl.");
  EXPECT_EQ(d.choice_chars[0], 144);  // the leading space of " If ..." counts
  EXPECT_EQ(d.gold, 2);
  EXPECT_NE(t.note.find("1,000"), std::string::npos);
}

TEST(TaskFiles, WinograndeArcBoolqOpenbookqaCopaLambada) {
  LOPPER_REQUIRE_SHARED();
  auto w = load("winogrande", 1).docs[0];
  EXPECT_EQ(w.requests[0].context, "Sarah was a much better surgeon than Maria so Sarah");
  EXPECT_EQ(w.requests[1].context, "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(w.requests[1].continuation, " always got the easier cases.");
  EXPECT_EQ(w.gold, 1);

  auto e = load("arc_easy", 1).docs[0];
  EXPECT_EQ(e.requests[0].context,
            "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:");
  EXPECT_EQ(e.requests[0].continuation, " Sunlight is the source of energy for nearly all ecosystems.");
  EXPECT_EQ(e.gold, 0);
  auto c = load("arc_challenge", 1).docs[0];
  EXPECT_EQ(c.requests[2].context,
            "Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most "
            "likely effect of this increase in rotation?\nAnswer:");
  EXPECT_EQ(c.requests[2].continuation, " Planetary days will become shorter.");
  EXPECT_EQ(c.gold, 2);

  auto b = load("boolq", 2).docs[1];
  const std::string& ctx = b.requests[0].context;
  EXPECT_EQ(ctx.rfind("Property tax or 'house tax' is a local tax on buildings", 0), 0u);  // "Passage: " removed
  const std::string tail = "brackets.\nQuestion: is house tax and property tax are same?\nAnswer:";
  EXPECT_EQ(ctx.substr(ctx.size() - tail.size()), tail);
  EXPECT_EQ(b.requests[0].continuation, " no");
  EXPECT_EQ(b.requests[1].continuation, " yes");
  EXPECT_EQ(b.gold, 1);

  auto o = load("openbookqa", 1).docs[0];
  EXPECT_EQ(o.requests[1].context,
            "A person wants to start saving money so that they can afford a nice vacation at the end of the year. After "
            "looking over their budget and expenses, they decide the best way to save money is to");
  EXPECT_EQ(o.requests[1].continuation, " quit eating lunch out");
  EXPECT_EQ(o.gold, 1);

  auto p = load("copa", 1).docs[0];
  EXPECT_EQ(p.requests[1].context, "The man turned on the faucet therefore");
  EXPECT_EQ(p.requests[1].continuation, "  water flowed from the spout.");
  EXPECT_EQ(load_task("copa", shared_data(), Harness::V03, 1).docs[0].requests[1].continuation,
            " water flowed from the spout.");

  auto l = load("lambada_openai", 2).docs[1];
  EXPECT_EQ(l.requests[0].context,
            "Give me a minute to change and I'll meet you at the docks.\" She'd forced those words through her "
            "teeth.\n\n\"No need to change. We won't be that long.\"\n\nShane gripped her arm and started leading her to "
            "the dock.\n\n\"I can make it there on my own,");
  EXPECT_EQ(l.requests[0].continuation, " Shane");
}

TEST(TaskFiles, FullDocumentCounts) {
  LOPPER_REQUIRE_SHARED();
  const std::map<std::string, size_t> expected = {
      {"piqa", 1838},      {"hellaswag", 1000}, {"winogrande", 1267}, {"arc_easy", 2376},      {"arc_challenge", 1172},
      {"boolq", 3270},     {"openbookqa", 500}, {"copa", 100},        {"lambada_openai", 5153}};
  ASSERT_EQ(known_tasks().size(), expected.size());
  for (const auto& [name, n] : expected) EXPECT_EQ(load(name).docs.size(), n) << name;
  for (const auto& p : known_presets())
    for (const auto& pt : p.tasks) EXPECT_NE(find_task(pt.task), nullptr) << p.name << ": " << pt.task;
}

TEST(TaskFiles, MissingFileNamesEveryPlaceLooked) {
  test::TempDir tmp;
  const auto& empty = tmp.path();
  DataDirs dirs{empty, {}, empty / "bundled"};
  std::filesystem::create_directories(dirs.bundled_dir);
  auto msg = test::input_error_of([&] { load_task("piqa", dirs, Harness::V04); });
  EXPECT_NE(msg.find("task piqa file not found"), std::string::npos) << msg;
  EXPECT_NE(msg.find((empty / "zeroshot/piqa/valid.jsonl").string() + " (--data-dir)"), std::string::npos) << msg;
  EXPECT_NE(msg.find((empty / "bundled/zeroshot/piqa/valid.jsonl").string() + " (bundled data)"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("LOPPER_DATA_DIR not set"), std::string::npos) << msg;
}

TEST(TaskFiles, MalformedRowsNameFileAndLine) {
  test::TempDir tmp;
  const auto& dir = tmp.path();
  auto write = [&](const std::string& name, const std::string& body) {
    write_file_atomic(dir / name, body);
    return (dir / name).string();
  };
  const std::string good = R"({"query": "Q", "choices": ["a", "b"], "gold": 0})" "\n";
  auto f1 = write("bad_json.jsonl", good + "\n" + "{not json\n");
  EXPECT_NE(test::input_error_of([&] { load_task(f1, {}, Harness::V04); }).find(f1 + ":3: not valid JSON"), std::string::npos);
  auto f2 = write("bad_gold.jsonl", good + R"({"query": "Q", "choices": ["a", "b"], "gold": 2})" "\n");
  EXPECT_NE(test::input_error_of([&] { load_task(f2, {}, Harness::V04); }).find(f2 + ":2: gold index 2 is outside the 2 choices"),
            std::string::npos);
  auto f3 = write("no_field.jsonl", good + R"({"query": "Q", "gold": 0, "choices": "ab"})" "\n");
  EXPECT_NE(test::input_error_of([&] { load_task(f3, {}, Harness::V04); }).find(f3 + ":2: field \"choices\" must be a non-empty list"),
            std::string::npos);
  auto f4 = write("schema.jsonl", R"({"text": "plain"})" "\n");
  EXPECT_NE(test::input_error_of([&] { load_task(f4, {}, Harness::V04); }).find("unknown task schema"), std::string::npos);
  auto f5 = write("hs.jsonl", R"({"activity_label": "A", "ctx_a": "b", "ctx_b": "c", "endings": ["d", "e"], "label": "x"})" "\n");
  EXPECT_NE(test::input_error_of([&] { load_task("hellaswag=" + f5, {}, Harness::V04); }).find(f5 + ":1: field \"label\" must be an integer"),
            std::string::npos);
  // A user file in the query/choices schema works by path; limit keeps the first N.
  auto f6 = write("mine.jsonl", good + good + good);
  auto t = load_task(f6, {}, Harness::V04, 2);
  EXPECT_EQ(t.docs.size(), 2u);
  EXPECT_EQ(t.kind, TaskKind::MultipleChoice);
  EXPECT_EQ(t.docs[0].requests[1].continuation, " b");
}

}  // namespace
}  // namespace lopper
