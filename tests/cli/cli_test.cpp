// The lopper executable end to end: JSON reports, exit codes, and one-line errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

using test::Run;
using test::run;
using test::expect_one_line_error;

TEST(Cli, InfoJson) {
  auto dir = test::temp_dir("cli");
  auto r = run("info --model " + test::bundled_model().string() + " --json " + (dir / "i.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(dir / "i.json"));
  EXPECT_EQ(j["architecture"], "LlamaForCausalLM");
  EXPECT_EQ(j["num_layers"], 5);
  EXPECT_EQ(j["params_total"], 260032);  // llama2.c's count for stories260K
  ASSERT_EQ(j["layers"].size(), 5u);
  EXPECT_EQ(j["layers"][0]["attention"]["num_kv_heads"], 4);
  remove_tree(dir);
}

TEST(Cli, GenerateMatchesGolden) {
  LOPPER_REQUIRE_SHARED();
  auto golden = nlohmann::json::parse(read_file(test::shared_dir() / "golden/testbed-15m.json"))["generation"];
  auto dir = test::temp_dir("cli");
  for (const char* cache : {"", " --no-cache"}) {
    auto r = run("generate --model " + (test::shared_dir() / "models/testbed-15m").string() + " --prompt '" +
                 golden["prompt"].get<std::string>() + "' -n 32 --greedy --dtype f32 --json " +
                 (dir / "g.json").string() + cache);
    ASSERT_EQ(r.code, 0) << r.out;
    auto j = nlohmann::json::parse(read_file(dir / "g.json"));
    EXPECT_EQ(j["ids"], golden["ids_no_cache"]) << cache;
  }
  remove_tree(dir);
}

TEST(Cli, GenerateFromIds) {
  auto dir = test::temp_dir("cli");
  auto r = run("generate --model " + test::bundled_model().string() + " --ids 1,403,407 -n 5 --greedy --json " +
               (dir / "g.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto ids = nlohmann::json::parse(read_file(dir / "g.json"))["ids"];
  EXPECT_EQ(ids.size(), 8u);
  EXPECT_EQ(ids[0], 1);
  remove_tree(dir);
}

TEST(Cli, BenchRandomWeightsJson) {
  auto dir = test::temp_dir("cli-bench");
  auto out = dir / "bench.json";
  auto cfg = std::string(LOPPER_SOURCE_DIR) + "/assets/models/stories260k/config.json";
  auto r = run("bench --config " + cfg + " --seqlen 32 --batch 1,2 --iters 1 --ppl wikitext2 --tokenizer " +
               std::string(LOPPER_SOURCE_DIR) + "/assets/models/stories260k --max-windows 2 --json " + out.string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(out));
  EXPECT_TRUE(j["random_weights"].get<bool>());
  ASSERT_EQ(j["prefill"].size(), 2u);
  EXPECT_EQ(j["prefill"][1]["batch"], 2);
  EXPECT_GT(j["prefill"][0]["tokens_per_s"].get<double>(), 0);
  EXPECT_EQ(j["ppl"]["wikitext2"]["windows"], 2);
  expect_one_line_error(run("bench --config " + cfg + " --batch 1,x"), "--batch");
  expect_one_line_error(run("bench --config " + cfg + " --ppl wikitext2"), "--tokenizer");
  remove_tree(dir);
}

TEST(Cli, Errors) {
  expect_one_line_error(run("info --model /nonexistent/model"), "/nonexistent/model");
  expect_one_line_error(run("generate --model " + test::bundled_model().string() + " --ids 1,x,3"), "--ids");
  expect_one_line_error(run("generate --model " + test::bundled_model().string() + " --ids 1,99999 -n 1"),
                        "outside the vocabulary");
  expect_one_line_error(run("eval --model " + test::bundled_model().string() + " --ppl /no/such/file.txt"),
                        "/no/such/file.txt");
  expect_one_line_error(run("eval --model " + test::bundled_model().string() + " --ppl wikitext2 --seqlen 4096"),
                        "exceeds the model's context");
  expect_one_line_error(run("prune --model " + test::bundled_model().string() +
                            " --method shortgpt --remove 9 --calib tinystories --out /tmp/x"),
                        "--remove 9");
  expect_one_line_error(run("eval --model " + test::bundled_model().string() + " --ppl wikitext2 --device tpu"),
                        "--device \"tpu\"");
  auto usage = run("frobnicate");
  EXPECT_EQ(usage.code, 2);
  EXPECT_EQ(usage.out.rfind("lopper: usage error: ", 0), 0u) << usage.out;
  EXPECT_EQ(std::count(usage.out.begin(), usage.out.end(), '\n'), 1) << usage.out;
  EXPECT_EQ(run("--help").code, 0);
}

TEST(Cli, EvalEmptyText) {
  auto dir = test::temp_dir("cli");
  write_file_atomic(dir / "empty.txt", "");
  expect_one_line_error(run("eval --model " + test::bundled_model().string() + " --ppl " + (dir / "empty.txt").string()),
                        "empty");
  remove_tree(dir);
}

TEST(Cli, PlanOnlyThenApply) {
  auto dir = test::temp_dir("cli");
  auto model = test::bundled_model().string();
  auto r = run("prune --model " + model + " --method shortgpt --remove 1 --calib tinystories --nsamples 4 --seqlen 64 "
               "--plan-only --save-plan " + (dir / "plan.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  auto plan = nlohmann::json::parse(read_file(dir / "plan.json"));
  ASSERT_EQ(plan["actions"][0]["layers"].size(), 1u);
  r = run("prune --model " + model + " --plan " + (dir / "plan.json").string() + " --eval-ppl none --out " +
          (dir / "out").string() + " --json " + (dir / "report.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto report = nlohmann::json::parse(read_file(dir / "report.json"));
  EXPECT_EQ(report["removed_layers"], plan["actions"][0]["layers"]);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "out/config.json"))["num_hidden_layers"], 4);
  remove_tree(dir);
}

TEST(Cli, SearchMethodReportResumeAndErrors) {
  auto dir = test::temp_dir("cli-search");
  auto model = test::bundled_model().string();
  const std::string base = "prune --model " + model + " --calib tinystories --nsamples 4 --seqlen 64 --eval-ppl none ";
  auto report_path = (dir / "r.json").string();
  auto r = run(base + "--method blockpruner --remove 3 --out " + (dir / "out").string() + " --json " + report_path);
  ASSERT_EQ(r.code, 0) << r.out;
  auto report = nlohmann::json::parse(read_file(report_path));
  EXPECT_EQ(report["steps"].size(), 3u);
  EXPECT_TRUE(report["search"]["complete"].get<bool>());
  EXPECT_NE(r.out.find("step   3  removed"), std::string::npos) << r.out;
  // What an interrupted run leaves behind, continued with --resume.
  report["search"]["steps"].erase(1);
  report["search"]["steps"].erase(1);
  report["search"]["complete"] = false;
  write_file_atomic(dir / "partial.json", report.dump());
  r = run(base + "--method blockpruner --remove 3 --plan-only --save-plan " + (dir / "p.json").string() +
          " --resume " + (dir / "partial.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("(resumed)"), std::string::npos) << r.out;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "p.json"))["actions"], report["plan"]["actions"]);

  const std::string plan = "--plan-only --save-plan " + (dir / "never.json").string() + " ";
  expect_one_line_error(run(base + plan + "--method sleb --remove 4"), "sleb can remove at most 3 of 5 blocks");
  expect_one_line_error(run(base + plan + "--method sleb --remove 0"), "--remove 0 must be at least 1");
  expect_one_line_error(run(base + plan + "--method blockpruner --remove 10"), "at least one must remain");
  expect_one_line_error(run(base + plan + "--method sleb --ratio 0.9"), "beyond what sleb can remove");
  expect_one_line_error(run(base + plan + "--method evopress --remove 5"), "--remove 5 must be between 1 and 4");
  expect_one_line_error(run(base + plan + "--method 2ssp --remove 1"), "2ssp takes --sparsity");
  expect_one_line_error(run(base + plan + "--method sleb --remove 1 --resume " + (dir / "partial.json").string()),
                        "made by --method \"blockpruner\"");
  expect_one_line_error(run(base + plan + "--method sleb --remove 1 --checkpoints some"), "--checkpoints");
  expect_one_line_error(run(base + plan + "--method evopress --remove 1 --stage-tokens 64,x"), "--stage-tokens");
  remove_tree(dir);
}

TEST(Cli, SprintPrunesRefitsMeasuresAndRefuses) {
  LOPPER_REQUIRE_SHARED();
  auto dir = test::temp_dir("cli-sprint");
  auto model = test::bundled_model().string();
  auto table = (dir / "latency.json").string();
  const std::string base = "prune --model " + model + " --method sprint --calib tinystories --nsamples 4 --seqlen 64 "
                           "--eval-ppl none --latency-mode prompt --latency-prompt 32 --latency-repeats 1 --latency " +
                           table + " ";
  auto r = run(base + "--remove-sublayers 2 --out " + (dir / "out").string() + " --json " + (dir / "r.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto report = nlohmann::json::parse(read_file(dir / "r.json"));
  EXPECT_EQ(report["steps"].size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(table));
  EXPECT_GT(report["speedup"]["measured"].get<double>(), 0);
  EXPECT_GT(report["speedup"]["predicted"].get<double>(), 1);
  EXPECT_TRUE(report["method_details"]["latency_table"].contains("attention_s"));
  EXPECT_NE(r.out.find("speedup (prompt mode): predicted"), std::string::npos) << r.out;
  EXPECT_EQ(run("info --model " + (dir / "out").string()).code, 0);

  const std::string plan = "--plan-only --save-plan " + (dir / "never.json").string() + " ";
  // Far beyond what any table can predict (timing noise on this tiny model can floor a latency, which
  // raises the maximum to a few hundred).
  expect_one_line_error(run(base + plan + "--target-speedup 1e6"), "cannot be reached by removing sublayers");
  expect_one_line_error(run(base + plan + "--target-speedup 1.2 --candidates 0"), "--candidates 0");
  expect_one_line_error(run(base + plan + "--target-speedup 0.9"), "must be above 1");
  expect_one_line_error(run(base + plan + "--remove-sublayers 10"), "at least one must remain");
  expect_one_line_error(run(base + plan + "--target-speedup 1.2 --sensitivity l3_sentence"), "l3");
  expect_one_line_error(run(base + plan + "--target-speedup 1.2 --ratio 0.2"), "--target-speedup");
  // The table was measured for the bundled model; another model must not use it.
  auto other = "prune --model " + (test::shared_dir() / "models/testbed-15m").string() +
               " --method sprint --calib tinystories --nsamples 4 --seqlen 64 --eval-ppl none --latency-mode prompt "
               "--latency-prompt 32 --latency " + table + " --target-speedup 1.2 " + plan;
  expect_one_line_error(run(other), "was measured for another model");
  EXPECT_FALSE(std::filesystem::exists(dir / "never.json"));
  remove_tree(dir);
}

TEST(Cli, EvalTasksAndPerplexityInOneRun) {
  LOPPER_REQUIRE_SHARED();
  auto dir = test::temp_dir("cli-tasks");
  auto r = run("eval --model " + test::bundled_model().string() + " --tasks copa,piqa --limit 50 --ppl wikitext2 "
               "--max-windows 2 --data-dir " + (test::shared_dir() / "data").string() + " --bos never --json " +
               (dir / "e.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(dir / "e.json"));
  EXPECT_EQ(j["tasks"]["piqa"]["n"], 50);
  EXPECT_TRUE(j["tasks"]["piqa"].contains("acc_norm_stderr"));
  EXPECT_EQ(j["ppl"]["wikitext2"]["windows"], 2);
  EXPECT_EQ(j["zeroshot"]["bos"], "never");
  EXPECT_NE(r.out.find("piqa"), std::string::npos);  // the table on stdout
  remove_tree(dir);
}

TEST(Cli, EvalTaskErrors) {
  auto model = test::bundled_model().string();
  expect_one_line_error(run("eval --model " + model + " --tasks piqa,mmlu"), "unknown task \"mmlu\" (tasks: piqa");
  expect_one_line_error(run("eval --model " + model + " --tasks mmlu"), "presets: shortened-llama");
  expect_one_line_error(run("eval --model " + model + " --tasks piqa --limit 0"), "--limit 0");
  expect_one_line_error(run("eval --model " + model + " --tasks piqa --bos maybe"), "--bos maybe");
  auto dir = test::temp_dir("cli-tasks");
  // Missing task file: every place looked is named.
  auto r = run("eval --model " + model + " --tasks boolq --data-dir " + dir.string());
  expect_one_line_error(r, "task boolq file not found");
  EXPECT_NE(r.out.find((dir / "zeroshot/llm-foundry/boolq.jsonl").string() + " (--data-dir)"), std::string::npos);
  EXPECT_NE(r.out.find("bundled data"), std::string::npos) << r.out;
  // A malformed row: file and line.
  write_file_atomic(dir / "mine.jsonl", "{\"query\": \"Q\", \"choices\": [\"a\", \"b\"], \"gold\": 0}\n{\"query\": 3, \"choices\": [\"a\"], \"gold\": 0}\n");
  expect_one_line_error(run("eval --model " + model + " --tasks " + (dir / "mine.jsonl").string()),
                        (dir / "mine.jsonl").string() + ":2: field \"query\" must be a string");
  remove_tree(dir);
}

TEST(Cli, BenchGenerateJson) {
  auto dir = test::temp_dir("cli-bench");
  auto r = run("bench --model " + test::bundled_model().string() + " --generate --prompt-len 8 --gen-len 4,6 "
               "--batch 1,2 --warmup 0 --repeats 1 --json " + (dir / "g.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(dir / "g.json"));
  ASSERT_EQ(j["generate"]["settings"].size(), 4u);
  EXPECT_EQ(j["generate"]["settings"][3]["gen_len"], 6);
  EXPECT_GT(j["generate"]["settings"][0]["decode_tokens_per_s"].get<double>(), 0);
  expect_one_line_error(run("bench --model " + test::bundled_model().string() + " --generate --gen-len 4,z"),
                        "--gen-len: \"z\" is not a whole number");
  remove_tree(dir);
}

TEST(Cli, CompareDenseAndPruned) {
  auto dir = test::temp_dir("cli-compare");
  auto model = test::bundled_model().string();
  auto r = run("prune --model " + model + " --method shortgpt --remove 2 --calib tinystories --nsamples 4 --seqlen 64 "
               "--eval-ppl none --out " + (dir / "pruned").string());
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("compare --model " + model + " --model " + (dir / "pruned").string() + " --ppl wikitext2 --max-windows 2 "
          "--bench --prompt-len 8 --gen-len 4 --warmup 0 --repeats 1 --json " + (dir / "c.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(read_file(dir / "c.json"));
  ASSERT_EQ(j["models"].size(), 2u);
  std::map<std::string, nlohmann::json> rows;
  for (const auto& row : j["table"]) rows[row["name"].get<std::string>()] = row;
  ASSERT_TRUE(rows.count("params") && rows.count("ppl wikitext2") && rows.count("latency b1 8+4"));
  const auto& params = rows["params"];
  EXPECT_NEAR(params["ratios"][0].get<double>(),
              params["values"][1].get<double>() / params["values"][0].get<double>(), 1e-12);
  EXPECT_LT(params["ratios"][0].get<double>(), 1.0);  // 3 of 5 blocks left
  EXPECT_EQ(j["models"][1]["num_layers"], 3);
  // Two bench rounds (A B, then B A); each setting keeps its fastest.
  const auto& gen = j["models"][0]["generate"];
  ASSERT_EQ(gen["rounds"].size(), 2u);
  for (const auto& round : gen["rounds"])
    EXPECT_LE(gen["settings"][0]["latency_s"].get<double>(), round[0]["latency_s"].get<double>());
  expect_one_line_error(run("compare --model " + model + " --ppl wikitext2"), "at least two --model");
  // An existing non-empty output folder is written into only with --force.
  expect_one_line_error(run("prune --model " + model + " --method shortgpt --remove 1 --calib tinystories --nsamples 4 "
                            "--seqlen 64 --eval-ppl none --out " + (dir / "pruned").string()),
                        "exists and is not empty; pass --force");
  expect_one_line_error(run("prune --model " + model + " --method shortgpt --remove 1 --calib tinystories --out " + model),
                        "is the input model's folder");
  EXPECT_EQ(run("prune --model " + model + " --method shortgpt --remove 1 --calib tinystories --nsamples 4 --seqlen 64 "
                "--eval-ppl none --force --out " + (dir / "pruned").string()).code, 0);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "pruned/config.json"))["num_hidden_layers"], 4);
  expect_one_line_error(run("compare --model " + model + " --model /no/such/dir --ppl wikitext2"), "/no/such/dir");
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
