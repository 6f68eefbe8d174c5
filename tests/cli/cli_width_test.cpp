// `lopper prune` with the width methods end to end: the report, the saved checkpoint's per-layer
// widths, `--plan` re-applying a width plan, a SliceGPT checkpoint refused by export, and bad
// targets as one-line errors naming the option.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "cli/cli_run.h"
#include "lopper/model/config.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::string testbed() { return (test::shared_dir() / "models/testbed-15m").string(); }

std::string calib_args() {
  return " --calib wikitext2 --nsamples 4 --seqlen 64 --data-dir " + (test::shared_dir() / "data").string() +
         " --eval-ppl none --dtype f32";
}

nlohmann::json read_json(const std::filesystem::path& p) { return nlohmann::json::parse(read_file(p)); }

TEST(CliWidth, HeadsPrunesSavesAndThePlanReapplies) {
  auto dir = test::temp_dir("cli-width-heads");
  auto r = test::run("prune --model " + testbed() + " --method heads --kv-groups 1" + calib_args() + " --out " +
                     (dir / "a").string() + " --json " + (dir / "a.json").string() + " --save-plan " +
                     (dir / "plan.json").string());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("layer 0 keeps KV groups ["), std::string::npos) << r.out;
  auto rep = read_json(dir / "a.json");
  EXPECT_EQ(rep["method"], "heads");
  EXPECT_EQ(rep["method_options"]["kv_groups"], 1);
  EXPECT_LT(rep["params_after"].get<int64_t>(), rep["params_before"].get<int64_t>());
  auto cfg = ModelConfig::load(dir / "a");
  for (const auto& s : cfg.layers) {
    EXPECT_EQ(s.num_kv_heads, 1);
    EXPECT_EQ(s.num_heads, 2);
  }
  auto again = test::run("prune --model " + testbed() + " --plan " + (dir / "plan.json").string() +
                         " --eval-ppl none --dtype f32 --out " + (dir / "b").string());
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(ModelConfig::load(dir / "b").layers, cfg.layers);
  EXPECT_EQ(read_file(dir / "a/model.safetensors"), read_file(dir / "b/model.safetensors"));
  std::filesystem::remove_all(dir);
}

TEST(CliWidth, FfnL2KeepsAlignedChannelsAndOsscarQuarkRuns) {
  auto dir = test::temp_dir("cli-width-ffn");
  auto r = test::run("prune --model " + testbed() + " --method ffn-l2 --ratio 0.25 --align 1" + calib_args() +
                     " --out " + (dir / "a").string());
  ASSERT_EQ(r.code, 0) << r.out;
  for (const auto& s : ModelConfig::load(dir / "a").layers) EXPECT_EQ(s.intermediate_size, 576);  // int(768 x 0.75)
  auto q = test::run("prune --model " + testbed() + " --method osscar --variant quark --ratio 0.25" + calib_args() +
                     " --json " + (dir / "q.json").string() + " --out " + (dir / "q").string());
  ASSERT_EQ(q.code, 0) << q.out;
  for (const auto& s : ModelConfig::load(dir / "q").layers) EXPECT_EQ(s.intermediate_size, 512);  // 576 -> 4.5 x 128 -> 512
  auto rep = read_json(dir / "q.json");
  EXPECT_EQ(rep["method_options"]["variant"], "quark");
  EXPECT_EQ(rep["plan"]["refits_omitted"], true);
  std::filesystem::remove_all(dir);
}

TEST(CliWidth, SliceGptCheckpointRunsInLopperAndExportRefusesIt) {
  auto dir = test::temp_dir("cli-width-slice");
  auto r = test::run("prune --model " + testbed() + " --method slicegpt --ratio 0.2" + calib_args() + " --out " +
                     (dir / "s").string());
  ASSERT_EQ(r.code, 0) << r.out;
  auto e = test::run("eval --model " + (dir / "s").string() + " --ppl wikitext2 --max-windows 1 --seqlen 128 --data-dir " +
                     (test::shared_dir() / "data").string());
  EXPECT_EQ(e.code, 0) << e.out;
  auto x = test::run("export --model " + (dir / "s").string() + " --to gguf --out " + (dir / "s.gguf").string());
  test::expect_one_line_error(x, "SliceGPT");
  EXPECT_FALSE(std::filesystem::exists(dir / "s.gguf"));
  auto d = test::run("prune --model " + (dir / "s").string() + " --method shortgpt --remove 1" + calib_args() +
                     " --out " + (dir / "never").string());
  test::expect_one_line_error(d, "SliceGPT");
  std::filesystem::remove_all(dir);
}

TEST(CliWidth, BadTargetsAreOneLineErrors) {
  auto out = test::temp_dir("cli-width-bad");
  const std::string base = "prune --model " + testbed() + calib_args() + " --out " + (out / "never").string() + " --method ";
  test::expect_one_line_error(test::run(base + "osscar --ratio 1.5"), "--ratio 1.5 must be in (0, 1)");
  test::expect_one_line_error(test::run(base + "ffn-l2 --ratio 0"), "--ratio 0 must be in (0, 1)");
  test::expect_one_line_error(test::run(base + "ffn-l2 --ratio 0.1 --align 1024"), "--align 1024");
  test::expect_one_line_error(test::run(base + "osscar --ratio 0.1 --variant fast"), "--variant");
  test::expect_one_line_error(test::run(base + "osscar --ratio 0.1 --params 0.1"), "exactly one target");
  test::expect_one_line_error(test::run(base + "heads --kv-groups 3"), "layer 0 has only 2 KV groups");
  test::expect_one_line_error(test::run(base + "osscar --kv-groups 1"), "--kv-groups applies to --method heads");
  test::expect_one_line_error(test::run(base + "shortgpt --remove 1 --params 0.1"), "apply to width methods");
  test::expect_one_line_error(test::run(base + "slicegpt --ratio 1"), "--ratio 1 must be in (0, 1)");
  // Query heads that do not divide into KV heads: refused when config.json is read.
  auto dir = test::temp_dir("cli-width-gqa");
  test::write_tiny_model(dir, test::tiny_config_json());
  auto cfg = test::tiny_config_json();
  cfg["num_key_value_heads"] = 3;
  write_file_atomic(dir / "config.json", cfg.dump(2));
  auto r = test::run("prune --model " + dir.string() + " --method heads --kv-groups 1 --calib wikitext2 --data-dir " +
                     (test::shared_dir() / "data").string() + " --eval-ppl none --out " + (out / "never").string());
  test::expect_one_line_error(r, "num_attention_heads (4) is not a multiple of num_key_value_heads (3)");
  EXPECT_FALSE(std::filesystem::exists(out / "never"));
  std::filesystem::remove_all(dir);
  std::filesystem::remove_all(out);
}

}  // namespace
}  // namespace lopper
