// heads: KV-group removal equals zeroing those heads' o_proj columns (fp32, 1e-5), with and without
// the o_proj refit; the scores equal a plain per-head computation; global ranking removes the
// lowest scores of the whole model; the saved model keeps valid GQA shapes and reloads; the plan
// re-applies; the refit is the closed-form least squares; bad input gets one-line errors.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "lopper/calib/calibration.h"
#include "lopper/model/save.h"
#include "lopper/prune/plan.h"
#include "lopper/prune/width/gram_refit.h"
#include "lopper/prune/width/width.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::filesystem::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

struct Fixture {
  Model model;
  CalibData calib;
};

Fixture load_testbed(int64_t nsamples = 4, int64_t seqlen = 64) {
  Progress::set_enabled(false);
  Fixture f{Model::load(testbed(), {"cpu", "f32"}), {}};
  auto tok = Tokenizer::from_dir(testbed());
  CalibOptions c;
  c.dataset = "wikitext2";
  c.nsamples = nsamples;
  c.seqlen = seqlen;
  c.data_dir = test::shared_dir() / "data";
  f.calib = load_calibration(tok, c, f.model.config.max_position_embeddings);
  return f;
}

at::Tensor logits(const Model& m, const at::Tensor& ids) {
  c10::InferenceMode guard;
  return m.forward(ids);
}

at::Tensor sample_ids(const CalibData& c) { return c.ids.narrow(0, 0, 2).narrow(1, 0, 48); }

// The original model with the removed groups' o_proj columns zeroed; where `pruned` re-fitted
// o_proj, its kept columns hold the re-fitted weights.
Model zeroed_reference(const Model& original, const Model& pruned, const nlohmann::json& details) {
  Model z = original;
  const int64_t D = original.config.head_dim;
  for (const auto& l : details["layers"]) {
    const int layer = l["layer"].get<int>();
    const auto& s = original.config.layers[layer];
    const int64_t width = (s.num_heads / s.num_kv_heads) * D;
    auto o = original.weights.layers[layer].attn->o.clone();  // [C, H*D]
    for (auto g : l["removed"].get<std::vector<int64_t>>()) o.narrow(1, g * width, width).zero_();
    const auto kept = l["kept"].get<std::vector<int64_t>>();
    if (!kept.empty() && pruned.config.layers[layer].has_attn) {
      const auto& po = pruned.weights.layers[layer].attn->o;  // [C, kept * width]
      for (size_t k = 0; k < kept.size(); ++k)
        o.narrow(1, kept[k] * width, width).copy_(po.narrow(1, static_cast<int64_t>(k) * width, width));
    }
    z.weights.layers[layer].attn->o = o;
  }
  return z;
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(HeadsMethod, StructuralRemovalEqualsZeroedOProjColumns) {
  for (bool refit : {false, true}) {
    auto f = load_testbed();
    const Model original = f.model;
    WidthOptions o;
    o.kv_groups = 1;
    o.refit = refit;
    auto r = make_width_method("heads")->run(f.model, f.calib, o);
    for (int l = 0; l < f.model.config.num_layers(); ++l) {
      const auto& s = f.model.config.layers[l];
      ASSERT_TRUE(s.has_attn);
      EXPECT_EQ(s.num_kv_heads, 1);
      EXPECT_EQ(s.num_heads, 2);  // query heads per group unchanged: still valid GQA
      EXPECT_EQ(f.model.weights.layers[l].attn->k.size(0), 64);
      EXPECT_EQ(f.model.weights.layers[l].attn->o.size(1), 128);
    }
    auto ids = sample_ids(f.calib);
    const double d = max_diff(logits(f.model, ids), logits(zeroed_reference(original, f.model, r.details), ids));
    std::printf("refit=%d: structural vs zeroed o_proj columns, max |logit diff| = %.3g\n", refit, d);
    EXPECT_LT(d, 1e-5);
    EXPECT_GT(max_diff(logits(f.model, ids), logits(original, ids)), 1e-2) << "something was removed";
    EXPECT_EQ(r.plan.refits_omitted, refit);
    if (refit) {
      ASSERT_EQ(r.details["refit"].size(), 14u);
      for (const auto& e : r.details["refit"]) EXPECT_LT(e["relative_error"].get<double>(), 1.0);
    }
  }
}

// The score of layer 5's groups from a plain per-head computation on the dense model.
TEST(HeadsMethod, ScoresEqualAPlainPerHeadComputation) {
  auto f = load_testbed();
  const Model original = f.model;
  WidthOptions o;
  o.kv_groups = 1;
  auto r = make_width_method("heads")->run(f.model, f.calib, o);
  struct Capture : TapHandler {
    bool wants(int l, Tap t) const override { return l == 5 && (t == Tap::AttnContext || t == Tap::LayerIn); }
    void on(int, Tap t, at::Tensor& x) override { (t == Tap::LayerIn ? in : ctx).push_back(x.clone()); }
    std::vector<at::Tensor> in, ctx;
  } cap;
  {
    c10::InferenceMode guard;
    ForwardContext ctx;
    ctx.taps = &cap;
    original.forward(f.calib.ids, ctx);
  }
  auto x = at::cat(cap.ctx, 0).to(at::kDouble);  // [N, T, H*D]
  auto h = at::cat(cap.in, 0).to(at::kDouble);   // [N, T, C]
  auto w = original.weights.layers[5].attn->o.to(at::kDouble);  // [C, H*D]
  const int64_t D = 64;
  std::vector<double> plain(2, 0.0);
  for (int g = 0; g < 2; ++g) {
    auto c = at::zeros({x.size(0), x.size(1), w.size(0)}, x.options());
    for (int head = 2 * g; head < 2 * g + 2; ++head)
      c += at::matmul(x.narrow(-1, head * D, D), w.narrow(1, head * D, D).t());
    plain[g] = std::sqrt(c.pow(2).sum().item<double>() / h.pow(2).sum().item<double>());
  }
  const auto scores = r.details["layers"][5]["scores"].get<std::vector<double>>();
  ASSERT_EQ(scores.size(), 2u);
  for (int g = 0; g < 2; ++g) EXPECT_NEAR(scores[g], plain[g], 1e-6 * plain[g]) << "group " << g;
  const int64_t lowest = plain[0] <= plain[1] ? 0 : 1;
  EXPECT_EQ(r.details["layers"][5]["removed"], nlohmann::json::array({lowest}));
}

TEST(HeadsMethod, GlobalRankingRemovesTheLowestScoresOfTheModel) {
  auto f = load_testbed();
  WidthOptions o;
  o.ratio = 0.25;  // 7 of the 28 groups
  o.allocation = "global";
  auto r = make_width_method("heads")->run(f.model, f.calib, o);
  std::vector<double> removed, kept;
  for (const auto& l : r.details["layers"]) {
    const auto scores = l["scores"].get<std::vector<double>>();
    for (auto g : l["removed"].get<std::vector<int64_t>>()) removed.push_back(scores[g]);
    for (auto g : l["kept"].get<std::vector<int64_t>>()) kept.push_back(scores[g]);
  }
  ASSERT_EQ(removed.size(), 7u);
  EXPECT_LE(*std::max_element(removed.begin(), removed.end()), *std::min_element(kept.begin(), kept.end()));
  int64_t groups = 0;
  for (const auto& s : f.model.config.layers) groups += s.has_attn ? s.num_kv_heads : 0;
  EXPECT_EQ(groups, 21);
}

TEST(HeadsMethod, SavedModelKeepsGqaShapesReloadsAndThePlanReapplies) {
  auto f = load_testbed();
  WidthOptions o;
  o.allocation = "global";
  o.kv_groups = 1;  // 14 of 28 groups, the lowest of the model (a layer may lose its attention)
  auto r = make_width_method("heads")->run(f.model, f.calib, o);
  auto dir = test::temp_dir("heads-save");
  SaveOptions so;
  so.dtype = at::kFloat;
  save_model(f.model, dir / "out", so);
  auto back = Model::load(dir / "out", {"cpu", "f32"});
  ASSERT_EQ(back.config.layers, f.model.config.layers);
  for (const auto& s : back.config.layers)
    if (s.has_attn) EXPECT_EQ(s.num_heads % s.num_kv_heads, 0);
  auto ids = sample_ids(f.calib);
  EXPECT_EQ(max_diff(logits(back, ids), logits(f.model, ids)), 0.0);
  auto again = Model::load(testbed(), {"cpu", "f32"});
  PruningPlan::from_json(r.plan.to_json(), "plan").apply(again);
  EXPECT_EQ(again.config.layers, f.model.config.layers);
  EXPECT_EQ(max_diff(logits(again, ids), logits(f.model, ids)), 0.0);
  std::filesystem::remove_all(dir);
}

TEST(HeadsMethod, RemovingEveryGroupOfALayerRemovesItsAttention) {
  auto f = load_testbed();
  WidthOptions o;
  o.kv_groups = 2;
  auto r = make_width_method("heads")->run(f.model, f.calib, o);
  for (const auto& s : f.model.config.layers) EXPECT_FALSE(s.has_attn);
  ASSERT_EQ(r.plan.actions.size(), 14u);
  EXPECT_EQ(r.plan.actions[0].op, "remove_attention");
}

// gram_refit against torch's least squares on the explicit inputs, damping as extra rows.
TEST(GramRefit, EqualsClosedFormLeastSquares) {
  at::manual_seed(3);
  auto base = at::randn({300, 6}, at::kDouble);
  auto x = at::cat({base, base.matmul(at::randn({6, 10}, at::kDouble)) + 0.1 * at::randn({300, 10}, at::kDouble)}, 1);
  auto b = at::randn({16, 5}, at::kDouble);  // y = x b
  const std::vector<int64_t> kept = {0, 2, 3, 7, 8, 11, 15};
  const double damp = 0.01;
  auto g = x.t().matmul(x);
  auto r = gram_refit(g.to(at::kFloat), b, kept, damp);
  // From an f32 Gram (as callers accumulate it) the answer agrees to f32 rounding; from the fp64
  // Gram to fp64 rounding.
  auto idx = at::tensor(kept, at::kLong);
  auto xs = x.index_select(1, idx);
  const double lambda = damp * g.diagonal().mean().item<double>();
  auto a = at::cat({xs, std::sqrt(lambda) * at::eye(static_cast<int64_t>(kept.size()), at::kDouble)}, 0);
  auto y = at::cat({x.matmul(b), at::zeros({static_cast<int64_t>(kept.size()), 5}, at::kDouble)}, 0);
  auto w = std::get<0>(at::linalg_lstsq(a, y));
  EXPECT_LT((r.weight - w).abs().max().item<double>(), 1e-4 * w.abs().max().item<double>());
  auto exact = gram_refit(g, b, kept, damp);
  EXPECT_LT((exact.weight - w).abs().max().item<double>(), 1e-9 * w.abs().max().item<double>());
  const double err = (xs.matmul(exact.weight) - x.matmul(b)).pow(2).sum().item<double>() /
                     x.matmul(b).pow(2).sum().item<double>();
  EXPECT_NEAR(exact.relative_error, err, 1e-9);
}

TEST(HeadsMethod, BadInputOneLineErrors) {
  Progress::set_enabled(false);
  auto method = make_width_method("heads");
  auto msg = [&](const ModelConfig& c, const WidthOptions& o) -> std::string {
    try {
      method->validate(c, o);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  WidthOptions ok;
  ok.kv_groups = 1;
  // config.json loading already refuses such a model (tests/cli/cli_width_test.cpp); a config built
  // in code reaches the method's own check.
  auto bad_gqa = ModelConfig::from_json(test::tiny_config_json(), "tiny");
  bad_gqa.layers[1].num_kv_heads = 3;
  EXPECT_NE(msg(bad_gqa, ok).find("layer 1: 4 query heads do not divide into 3 KV heads"), std::string::npos) << msg(bad_gqa, ok);
  auto c = ModelConfig::from_json(test::tiny_config_json(), "tiny");
  EXPECT_EQ(msg(c, ok), "");
  for (double r : {0.0, 1.0, -0.5, 1.5}) {
    WidthOptions o;
    o.ratio = r;
    EXPECT_NE(msg(c, o).find("--ratio"), std::string::npos) << r;
  }
  WidthOptions two;
  two.ratio = 0.5;
  two.kv_groups = 1;
  EXPECT_NE(msg(c, two).find("exactly one target"), std::string::npos);
  WidthOptions align = ok;
  align.align = 8;
  EXPECT_NE(msg(c, align).find("--align"), std::string::npos);
  WidthOptions alloc = ok;
  alloc.allocation = "owl";
  EXPECT_NE(msg(c, alloc).find("--allocation \"owl\""), std::string::npos);
  WidthOptions params;
  params.params = 0.9;
  EXPECT_NE(msg(c, params).find("attention projections hold only"), std::string::npos) << msg(c, params);
  WidthOptions many;
  many.kv_groups = 3;
  EXPECT_NE(msg(c, many).find("--kv-groups 3: layer 0 has only 2 KV groups"), std::string::npos) << msg(c, many);
}

}  // namespace
}  // namespace lopper
