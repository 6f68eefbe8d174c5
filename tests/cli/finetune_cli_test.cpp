// `lopper finetune` end to end on the bundled model: merged checkpoint, PEFT adapter, report, resume
// through the CLI, and one-line errors for bad input.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct FinetuneCli : ::testing::Test {
  std::filesystem::path dir = test::temp_dir("ft-cli");
  std::string model = test::bundled_model().string();
  ~FinetuneCli() override { remove_tree(dir); }
  std::string data() {
    auto p = dir / "data.jsonl";
    std::ofstream f(p);
    const char* names[] = {"Lily", "Tom", "Ben", "Sue", "Max", "Amy"};
    for (int i = 0; i < 18; ++i)
      f << nlohmann::json{{"instruction", "Write a sentence about a friend."},
                          {"input", i % 2 ? "" : "The friend likes the park."},
                          {"output", std::string(names[i % 6]) + " went to the park and played with a red ball."}}
               .dump()
        << "\n";
    return p.string();
  }
  std::string args(const std::string& out) {
    return "finetune --model " + model + " --data " + data() + " --out " + out +
           " --val-size 4 --epochs 1 --batch 4 --micro-batch 2 --warmup-steps 1 --lr 1e-3 --eval-steps 2 --save-steps 2";
  }
};

TEST_F(FinetuneCli, WritesMergedModelAdapterAndReport) {
  const auto out = dir / "ft", adapter = dir / "adapter", report = dir / "report.json";
  auto r = test::run(args(out.string()) + " --save-adapter " + adapter.string() + " --json " + report.string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("val loss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "lopper_finetune.json"})
    EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
  EXPECT_TRUE(std::filesystem::exists(adapter / "adapter_config.json"));
  EXPECT_TRUE(std::filesystem::exists(adapter / "adapter_model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(out.string() + ".finetune-state"));  // removed once finished
  auto j = nlohmann::json::parse(read_file(report));
  EXPECT_EQ(j["train_examples"], 14);
  EXPECT_EQ(j["val_examples"], 4);
  EXPECT_EQ(j["training"]["steps"], 4);
  EXPECT_GE(j["training"]["val_loss"].size(), 3u);
  // The merged model runs.
  std::ofstream(dir / "story.txt") << "Lily went to the park and played with a red ball. Tom saw her there.\n";
  auto e = test::run("eval --model " + out.string() + " --ppl " + (dir / "story.txt").string() + " --seqlen 16");
  EXPECT_EQ(e.code, 0) << e.out;
}

TEST_F(FinetuneCli, ResumeGivesTheSameModelAsOneRun) {
  const auto once = dir / "once", twice = dir / "twice";
  auto a = test::run(args(once.string()));
  ASSERT_EQ(a.code, 0) << a.out;
  auto b1 = test::run(args(twice.string()) + " --stop-after 3");
  ASSERT_EQ(b1.code, 0) << b1.out;
  EXPECT_NE(b1.out.find("stopped at step 3 of 4"), std::string::npos) << b1.out;
  EXPECT_FALSE(std::filesystem::exists(twice));
  // Starting over while a state is there is refused; --resume continues it.
  test::expect_one_line_error(test::run(args(twice.string())), "--resume");
  auto b2 = test::run(args(twice.string()) + " --resume");
  ASSERT_EQ(b2.code, 0) << b2.out;
  EXPECT_NE(b2.out.find("resumed at step 3"), std::string::npos) << b2.out;
  EXPECT_EQ(read_file(once / "model.safetensors"), read_file(twice / "model.safetensors"));
}

TEST_F(FinetuneCli, BadInputIsOneLineError) {
  const std::string out = (dir / "o").string();
  auto bad = dir / "bad.jsonl";
  std::ofstream(bad) << "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"a\", \"output\": 3}\n";
  const std::string base = "finetune --model " + model + " --out " + out;
  test::expect_one_line_error(test::run(base + " --data " + bad.string()), "bad.jsonl:2: \"output\" must be a string");
  test::expect_one_line_error(test::run(base + " --data " + data() + " --val-size 2 --lora-rank 100"),
                              "--lora-rank 100 is larger than layer 0's q_proj (64 x 64)");
  test::expect_one_line_error(test::run(base + " --data " + data() + " --val-size 2 --batch 5 --micro-batch 2"),
                              "--batch 5 is not a multiple of --micro-batch 2");
  test::expect_one_line_error(test::run(base + " --data " + data()), "--val-size 2000 leaves nothing to train on");
  test::expect_one_line_error(test::run(base + " --data " + (dir / "nope.jsonl").string()), "nope.jsonl");
  test::expect_one_line_error(test::run(base + " --data " + data() + " --lora-targets q,lm_head"), "lm_head");
  std::filesystem::create_directories(dir / "taken");
  std::ofstream(dir / "taken" / "keep.txt") << "x";
  test::expect_one_line_error(test::run("finetune --model " + model + " --data " + data() + " --out " +
                                        (dir / "taken").string()),
                              "taken");
  EXPECT_TRUE(std::filesystem::exists(dir / "taken" / "keep.txt"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(FinetuneCli, BenchTimesTheTrainingStep) {
  const auto report = dir / "bench.json";
  auto r = test::run("bench --model " + model + " --lora-train --batch 2 --seqlen 16 --steps 2 --json " + report.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(report))["lora_train"];
  EXPECT_EQ(j["micro_batch"], 2);
  EXPECT_EQ(j["seqlen"], 16);
  EXPECT_GT(j["tokens_per_s"].get<double>(), 0);
  EXPECT_EQ(j["trainable_params"], 46240);  // r=8 on 35 projections of stories260k
}

}  // namespace
}  // namespace lopper
