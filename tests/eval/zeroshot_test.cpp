// Zero-shot evaluation end to end on stories260k (CPU, fp32): all nine tasks with --limit 50,
// lm-eval's aggregation, the paper presets, and prefix reuse against one full pass per choice on
// the real task files.
#include <gtest/gtest.h>

#include <cmath>

#include "lopper/eval/zeroshot.h"
#include "lopper/tasks/presets.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

const std::vector<std::string> kAllTasks = {"piqa",  "hellaswag",  "winogrande", "arc_easy",      "arc_challenge",
                                            "boolq", "openbookqa", "copa",       "lambada_openai"};

class ZeroShot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!test::have_shared()) GTEST_SKIP() << "shared assets not found at " << test::shared_dir();
  }
  Model model = Model::load(test::bundled_model(), {"cpu", "f32"});
  Tokenizer tok = Tokenizer::from_dir(test::bundled_model());
  ZeroShotRequest request(std::vector<std::string> tasks, int64_t limit) {
    ZeroShotRequest r;
    r.tasks = std::move(tasks);
    r.limit = limit;
    r.data_dir = test::shared_dir() / "data";
    return r;
  }
};

TEST_F(ZeroShot, AllNineTasksLimit50) {
  auto out = run_zeroshot(model, tok, prepare_zeroshot(request(kAllTasks, 50)));
  const auto& tasks = out["tasks"];
  ASSERT_EQ(tasks.size(), kAllTasks.size());
  for (const auto& name : kAllTasks) {
    const auto& t = tasks[name];
    EXPECT_EQ(t["n"], 50) << name;
    for (const auto& m : t["metrics"]) {
      const std::string metric = m.get<std::string>();
      const double v = t[metric].get<double>(), se = t[metric + "_stderr"].get<double>();
      if (metric == "perplexity") {
        EXPECT_GT(v, 1.0) << name;
        continue;
      }
      EXPECT_GE(v, 0.0) << name;
      EXPECT_LE(v, 1.0) << name;
      // 0/1 outcomes: sample std / sqrt(n) = sqrt(p (1 - p) / (n - 1)).
      EXPECT_NEAR(se, std::sqrt(v * (1 - v) / 49.0), 1e-12) << name << " " << metric;
    }
    EXPECT_NE(t["note"].get<std::string>().find("first 50 documents"), std::string::npos);
    EXPECT_GT(t["forward_tokens"].get<int64_t>(), 0);
  }
  EXPECT_EQ(tasks["lambada_openai"]["metrics"], nlohmann::json({"acc", "perplexity"}));
  EXPECT_EQ(tasks["winogrande"]["metrics"], nlohmann::json({"acc"}));
  EXPECT_EQ(out["zeroshot"]["bos"], "auto");
  EXPECT_TRUE(out["zeroshot"]["adds_bos"].get<bool>());
}

TEST_F(ZeroShot, PresetsAverageThePapersMetrics) {
  auto out = run_zeroshot(model, tok, prepare_zeroshot(request({"shortened-llama", "copa"}, 20)));
  const auto& p = out["presets"]["shortened-llama"];
  const Preset* preset = find_preset("shortened-llama");
  ASSERT_NE(preset, nullptr);
  double sum = 0;
  for (const auto& pt : preset->tasks) {
    const auto& t = out["tasks"][std::string(pt.task)];
    EXPECT_EQ(p["tasks"][std::string(pt.task)]["metric"], std::string(pt.metric));
    sum += t[std::string(pt.metric)].get<double>();
  }
  EXPECT_NEAR(p["average"].get<double>(), sum / 7.0, 1e-12);
  EXPECT_EQ(p["tasks"]["hellaswag"]["metric"], "acc_norm");
  EXPECT_EQ(out["tasks"].size(), 8u);  // the preset's seven and copa
  // The paper's lm-eval: no BOS, v0.3 rules.
  EXPECT_EQ(out["zeroshot"]["bos"], "never");
  EXPECT_EQ(out["zeroshot"]["harness"], "v0.3");
  // NAME=FILE replaces the preset's file for that task.
  const auto copa_file = (test::source_dir() / "assets/data/zeroshot/llm-foundry/copa.jsonl").string();
  auto over = prepare_zeroshot(request({"shortened-llama", "openbookqa=" + copa_file}, 3));
  ASSERT_EQ(over.tasks.size(), 7u);
  EXPECT_EQ(over.tasks.back().name, "openbookqa");
  EXPECT_EQ(over.tasks.back().sources, std::vector<std::string>{copa_file});
  auto wanda = run_zeroshot(model, tok, prepare_zeroshot(request({"wanda"}, 5)));
  EXPECT_NE(wanda["presets"]["wanda"]["left_out"][0].get<std::string>().find("rte"), std::string::npos);
}

TEST_F(ZeroShot, PrefixReuseEqualsOneFullPassPerChoice) {
  auto fast = request(kAllTasks, 15), slow = request(kAllTasks, 15);
  slow.ll.prefix_reuse = false;
  auto a = run_zeroshot(model, tok, prepare_zeroshot(fast));
  auto b = run_zeroshot(model, tok, prepare_zeroshot(slow));
  for (const auto& name : kAllTasks) {
    for (const auto& m : a["tasks"][name]["metrics"]) {
      const std::string metric = m.get<std::string>();
      EXPECT_NEAR(a["tasks"][name][metric].get<double>(), b["tasks"][name][metric].get<double>(),
                  metric == "perplexity" ? 1e-6 * b["tasks"][name][metric].get<double>() : 0.0)
          << name << " " << metric;
    }
  }
  // Long shared contexts, short choices: the context runs once per document, not once per choice.
  for (const char* name : {"boolq", "hellaswag", "arc_easy"})
    EXPECT_LT(a["tasks"][name]["forward_tokens"].get<double>(), 0.8 * a["tasks"][name]["request_tokens"].get<double>())
        << name;
}

TEST_F(ZeroShot, BadRequests) {
  auto msg = [&](ZeroShotRequest r) {
    try {
      prepare_zeroshot(r);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  auto unknown = msg(request({"piqa", "mmlu"}, 5));
  EXPECT_NE(unknown.find("unknown task \"mmlu\""), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("lambada_openai"), std::string::npos) << unknown;  // lists the tasks...
  EXPECT_NE(unknown.find("shortened-llama"), std::string::npos) << unknown;  // ...and the presets
  EXPECT_NE(msg(request({"piqa"}, 0)).find("--limit 0"), std::string::npos);
  EXPECT_NE(msg(request({}, 5)).find("--tasks"), std::string::npos);
  const auto copa_file = (test::source_dir() / "assets/data/zeroshot/llm-foundry/copa.jsonl").string();
  // copa=FILE stands for copa wherever it appears; two different files for one task are an error.
  EXPECT_EQ(prepare_zeroshot(request({"copa=" + copa_file, "copa"}, 5)).tasks.size(), 1u);
  const auto other = (test::shared_dir() / "data/zeroshot/llm-foundry/copa.jsonl").string();
  EXPECT_NE(msg(request({"copa=" + copa_file, "copa=" + other}, 5)).find("task copa is given twice"), std::string::npos);
}

}  // namespace
}  // namespace lopper
