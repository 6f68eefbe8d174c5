// Depth pruning: ShortGPT scores against the golden layer statistics; every method end to end on
// testbed-15m (--remove 3): the saved model reloads with identical logits and two runs agree;
// bad targets and impossible calibration requests give clear errors.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/calib/calibration.h"
#include "lopper/model/save.h"
#include "lopper/prune/depth.h"
#include "lopper/prune/plan.h"
#include "lopper/prune/prune_command.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "prune/prune_test_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::filesystem::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

TEST(ShortGpt, MatchesGoldenLayerStats) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto model = Model::load(testbed(), {"cpu", "f32"});
  auto tok = Tokenizer::from_dir(testbed());
  CalibOptions c;
  c.dataset = "wikitext2";
  c.sampler = Sampler::Consecutive;
  c.nsamples = 4;
  c.seqlen = 1024;
  c.data_dir = test::shared_dir() / "data";
  auto calib = load_calibration(tok, c, model.config.max_position_embeddings);
  EXPECT_TRUE(calib.eval_split);
  auto golden = nlohmann::json::parse(read_file(test::shared_dir() / "golden/testbed-15m.json"));
  const auto& layers = golden["layer_stats_first4_windows"]["layers"];
  for (bool last : {false, true}) {
    DepthOptions o;
    o.n_remove = 3;
    o.last_token = last;
    auto r = make_depth_method("shortgpt")->run(model, calib, o);
    ASSERT_EQ(r.scores.size(), layers.size());
    double worst = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      double want = layers[i][last ? "block_influence_last_token" : "block_influence"].get<double>();
      worst = std::max(worst, std::abs(*r.scores[i] - want));
    }
    EXPECT_LT(worst, 1e-5) << (last ? "last-token" : "all-token") << " BI";
    std::printf("shortgpt %s: max |BI - golden| = %.3g, removes [%d %d %d]\n", last ? "last-token" : "all-tokens",
                worst, r.removed[0], r.removed[1], r.removed[2]);
  }
}

class DepthMethodEndToEnd : public ::testing::TestWithParam<std::string> {};

TEST_P(DepthMethodEndToEnd, SavedModelReloadsIdenticallyAndRunsAreDeterministic) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto dir = test::temp_dir("depth");
  PruneRequest req = test::testbed_request(GetParam(), "c4", 8, 256, 4);
  req.remove = 3;
  req.eval_ppl = {"wikitext2"};
  req.eval.max_windows = 4;
  req.out_dir = dir / "a";
  auto r1 = run_prune(req);
  req.out_dir = dir / "b";
  auto r2 = run_prune(req);
  ASSERT_EQ(r1["removed_layers"].size(), 3u);
  EXPECT_EQ(r1["removed_layers"], r2["removed_layers"]);
  EXPECT_EQ(r1["layers"], r2["layers"]);
  EXPECT_EQ(r1["num_layers_after"], 11);
  EXPECT_LT(r1["params_after"].get<int64_t>(), r1["params_before"].get<int64_t>());
  EXPECT_TRUE(r1["ppl_after"]["wikitext2"]["ppl"].is_number());

  // The reloaded checkpoint equals the in-memory pruned model (testbed is bf16: saved as bf16,
  // which represents the pruned fp32 weights exactly since depth pruning does not change them).
  c10::InferenceMode guard;
  auto in_memory = Model::load(testbed(), {"cpu", "f32"});
  PruningPlan::from_json(r1, "report").apply(in_memory);
  auto reloaded = Model::load(dir / "a", {"cpu", "f32"});
  auto ids = at::randint(0, 8192, {2, 64}, at::kLong);
  EXPECT_TRUE(in_memory.forward(ids).equal(reloaded.forward(ids)));
  auto cfg = nlohmann::json::parse(read_file(dir / "a/config.json"));
  EXPECT_EQ(cfg["num_hidden_layers"], 11);
  EXPECT_EQ(cfg["torch_dtype"], "bfloat16");
  EXPECT_TRUE(std::filesystem::exists(dir / "a/tokenizer.json"));
  remove_tree(dir);
}

INSTANTIATE_TEST_SUITE_P(Methods, DepthMethodEndToEnd,
                         ::testing::Values("shortgpt", "angular", "window-ppl", "block-ppl", "taylor"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(DepthSelection, LowestKAndWindows) {
  std::vector<std::optional<double>> s = {0.5, 0.1, std::nullopt, 0.1, 0.9};
  EXPECT_EQ(lowest_k(s, 2), (std::vector<int>{1, 3}));
  EXPECT_EQ(lowest_k(s, 2, {1}), (std::vector<int>{0, 3}));
  EXPECT_THROW(lowest_k(s, 5), InputError);
  EXPECT_EQ(best_window({0.3, 0.2, 0.25, std::nullopt}, 2), (std::vector<int>{1, 2}));
}

TEST(DepthSelection, RatioRounding) {
  auto c = ModelConfig::from_json(test::tiny_config_json(), "tiny");  // 3 layers
  EXPECT_EQ(blocks_for_ratio(c, 0.34), 1);
  EXPECT_EQ(blocks_for_ratio(c, 0.5), 2);  // 1.5 rounds up
  EXPECT_THROW(blocks_for_ratio(c, 0.0), InputError);
  EXPECT_THROW(blocks_for_ratio(c, 1.0), InputError);
  EXPECT_THROW(blocks_for_ratio(c, 0.9), InputError);  // would remove all 3
}

class PruneBadInput : public ::testing::Test {
 protected:
  PruneRequest req() {
    Progress::set_enabled(false);
    PruneRequest r;
    r.model_dir = test::bundled_model();
    r.method = "shortgpt";
    r.calib.dataset = "tinystories";
    r.calib.nsamples = 2;
    r.calib.seqlen = 64;
    r.eval_ppl.clear();
    r.out_dir = test::temp_dir("never") / "out";
    return r;
  }
  std::string error_of(const PruneRequest& r) { return test::prune_error_of(r); }
};

TEST_F(PruneBadInput, RemoveAtLeastAllLayers) {
  auto r = req();
  r.remove = 5;
  EXPECT_NE(error_of(r).find("--remove 5 must be less than the number of layers (5)"), std::string::npos);
}

TEST_F(PruneBadInput, RatioOutsideUnitInterval) {
  auto r = req();
  r.ratio = 1.5;
  EXPECT_NE(error_of(r).find("--ratio 1.5 must be in (0, 1)"), std::string::npos);
  r.ratio = 0;
  EXPECT_NE(error_of(r).find("must be in (0, 1)"), std::string::npos);
}

TEST_F(PruneBadInput, CalibrationAsksForMoreTokensThanTheData) {
  auto r = req();
  r.remove = 1;
  r.calib.sampler = Sampler::Consecutive;
  r.calib.nsamples = 100000;
  r.calib.seqlen = 512;
  auto msg = error_of(r);
  EXPECT_NE(msg.find("51200000"), std::string::npos) << msg;
}

TEST_F(PruneBadInput, UnknownMethodListsMethods) {
  auto r = req();
  r.remove = 1;
  r.method = "magic";
  EXPECT_NE(error_of(r).find("shortgpt, angular, window-ppl, block-ppl, taylor"), std::string::npos);
}

TEST_F(PruneBadInput, PlanForAnotherModel) {
  auto r = req();
  auto dir = test::temp_dir("plan");
  write_file_atomic(dir / "plan.json",
                    R"({"lopper_plan": 1, "method": "x", "model": {"num_layers": 14},
                        "actions": [{"op": "remove_layers", "layers": [1]}]})");
  r.method.clear();
  r.plan_in = dir / "plan.json";
  EXPECT_NE(error_of(r).find("num_layers = 14, this one has 5"), std::string::npos);
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
