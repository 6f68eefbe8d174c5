// The osscar width method on whole models: structural removal equals zeroing with the refit, every
// layer is solved on the inputs of its pruned predecessors, and on testbed-15m the plan re-applies
// the shapes while the refit beats plain removal.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "lopper/calib/block_runner.h"
#include "lopper/prune/width/osscar_solver.h"
#include "lopper/prune/width/width.h"
#include "prune/width/ffn_width_test_util.h"

namespace lopper {
namespace {

// Gathers sum x x^T (fp64) of down_proj's input of one layer.
class GramTap : public TapHandler {
 public:
  explicit GramTap(int layer) : layer_(layer) {}
  bool wants(int l, Tap t) const override { return l == layer_ && t == Tap::MlpAct; }
  void on(int, Tap, at::Tensor& x) override {
    at::Tensor X = x.reshape({-1, x.size(-1)}).to(at::kDouble);
    gram = gram.defined() ? gram + X.t().mm(X) : X.t().mm(X);
  }
  at::Tensor gram;

 private:
  int layer_;
};

WidthOptions ratio_options(double ratio, int64_t align, const std::string& variant = "canonical") {
  WidthOptions o;
  o.ratio = ratio;
  o.align = align;
  o.variant = variant;
  return o;
}

TEST(Osscar, StructuralRemovalEqualsZeroedColumnsHoldingTheRefit) {
  Progress::set_enabled(false);
  auto dir = test::write_mixed_ffn_model("osscar-zero");
  auto calib = test::random_calib(4, 16, 64, 1);
  for (const std::string variant : {"canonical", "quark"}) {
    Model dense = Model::load(dir, {"cpu", "f32"});
    Model pruned = Model::load(dir, {"cpu", "f32"});
    auto r = make_width_method("osscar")->run(pruned, calib, ratio_options(0.5, 8, variant));
    // Layer 0: int(40 * 0.5) = 20 -> round(2.5) = 2 (halves to even) -> 16; layer 2: int(12) -> 2 -> 16.
    EXPECT_EQ(pruned.config.layers[0].intermediate_size, 16);
    EXPECT_FALSE(pruned.config.layers[1].has_mlp);
    EXPECT_EQ(pruned.config.layers[2].intermediate_size, 16);
    ASSERT_EQ(r.plan.actions.size(), 2u);
    EXPECT_TRUE(r.plan.refits_omitted);
    EXPECT_EQ(r.details["variant"], variant);

    Model zeroed = Model::load(dir, {"cpu", "f32"});
    for (const auto& a : r.plan.actions) {
      EXPECT_EQ(a.op, "keep_mlp_channels");
      EXPECT_TRUE(std::is_sorted(a.indices.begin(), a.indices.end()));
      auto& down = zeroed.weights.layers[a.layer].mlp->down;  // [C, F]
      at::Tensor refit = pruned.weights.layers[a.layer].mlp->down;  // [C, 16]
      down.zero_();
      down.index_copy_(1, at::tensor(a.indices, at::kLong), refit);
    }
    at::Tensor ids = test::random_calib(2, 20, 64, 2).ids;
    const double d = test::max_abs_diff(test::logits_of(pruned, ids), test::logits_of(zeroed, ids));
    const double moved = test::max_abs_diff(test::logits_of(dense, ids), test::logits_of(zeroed, ids));
    std::printf("osscar %s: max |logits(structural) - logits(zeroed + refit)| = %.3g (vs dense: %.3g)\n",
                variant.c_str(), d, moved);
    EXPECT_LT(d, 1e-5);
    EXPECT_GT(moved, 1e-3) << "pruning changed nothing";
  }
  std::filesystem::remove_all(dir);
}

TEST(Osscar, EachLayerIsSolvedOnTheInputsOfItsPrunedPredecessors) {
  Progress::set_enabled(false);
  auto dir = test::write_mixed_ffn_model("osscar-seq");
  auto calib = test::random_calib(4, 16, 64, 3);
  Model pruned = Model::load(dir, {"cpu", "f32"});
  WidthOptions o = ratio_options(0.5, 8);
  auto r = make_width_method("osscar")->run(pruned, calib, o);
  ASSERT_EQ(r.details["layers"].size(), 2u);
  size_t action = 0;
  for (int l : {0, 2}) {
    // The dense model with layers < l replaced by their pruned versions: what layer l saw.
    Model hybrid = Model::load(dir, {"cpu", "f32"});
    for (int j = 0; j < l; ++j) {
      hybrid.config.layers[j] = pruned.config.layers[j];
      hybrid.weights.layers[j] = pruned.weights.layers[j];
    }
    GramTap tap(l);
    {
      c10::InferenceMode guard;
      ForwardContext ctx;
      ctx.taps = &tap;
      hybrid.forward(calib.ids, ctx);
    }
    at::Tensor G = tap.gram.clone();  // [F, F] fp64
    at::Tensor B = hybrid.weights.layers[l].mlp->down.to(at::kDouble).t().clone();  // [F, C]
    B.masked_fill_((G.diagonal() == 0).unsqueeze(1), 0.0);
    G.diagonal().add_(o.damp * G.diagonal().mean().item<double>());
    const int64_t keep = 16;
    auto want = osscar_select(G, B, keep, OsscarVariant::Canonical);
    const auto& a = r.plan.actions[action];
    EXPECT_EQ(a.layer, l);
    EXPECT_EQ(a.indices, want.kept) << "layer " << l;
    at::Tensor got = pruned.weights.layers[l].mlp->down.t();  // [16, C]
    const double rel = test::max_abs_diff(got, want.weight) / want.weight.abs().max().item<double>();
    std::printf("layer %d: kept set as recomputed in fp64; max relative weight difference %.3g\n", l, rel);
    EXPECT_LT(rel, 1e-4);
    const auto& det = r.details["layers"][action];
    EXPECT_EQ(det["layer"], l);
    EXPECT_EQ(det["kept"], keep);
    EXPECT_EQ(det["d_ff"], l == 0 ? 40 : 24);
    const double damp = G.diagonal().mean().item<double>() - tap.gram.diagonal().mean().item<double>();
    EXPECT_NEAR(det["relative_error"].get<double>(), osscar_relative_error(G, damp, B, want), 1e-4);
    ++action;
  }
  std::filesystem::remove_all(dir);
}

TEST(Osscar, TestbedPlanReappliesShapesAndTheRefitBeatsPlainRemoval) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto calib = test::testbed_calib();
  Model dense = Model::load(test::testbed_dir(), {"cpu", "f32"});
  Model pruned = dense;  // surgery replaces tensors, so `dense` stays as it is
  auto r = make_width_method("osscar")->run(pruned, calib, ratio_options(0.5, 128));
  ASSERT_EQ(r.plan.actions.size(), 14u);

  Model reapplied = Model::load(test::testbed_dir(), {"cpu", "f32"});
  PruningPlan::from_json(r.plan.to_json(), "test").apply(reapplied);
  for (int l = 0; l < 14; ++l) {
    EXPECT_EQ(reapplied.config.layers[l], pruned.config.layers[l]);
    EXPECT_EQ(pruned.config.layers[l].intermediate_size, 384);  // int(768 * 0.5) = 384 = 3 * 128
    const auto& p = *pruned.weights.layers[l].mlp;
    const auto& q = *reapplied.weights.layers[l].mlp;
    EXPECT_TRUE(at::equal(p.gate, q.gate) && at::equal(p.up, q.up)) << "layer " << l;  // rows only selected
    EXPECT_EQ(p.down.sizes(), q.down.sizes());
    EXPECT_FALSE(at::equal(p.down, q.down)) << "layer " << l << ": down_proj was not refit";
    std::printf("layer %2d: relative error of the refit %.4f\n", l,
                r.details["layers"][l]["relative_error"].get<double>());
  }
  auto loss = [&](const Model& m) {
    BlockRunner runner(m, calib.ids, 8);
    return runner.loss_from(0, runner.hidden());
  };
  const double dense_nll = loss(dense), refit_nll = loss(pruned), plain_nll = loss(reapplied);
  std::printf("calibration NLL: dense %.4f, osscar %.4f, same channels without refit %.4f\n", dense_nll, refit_nll,
              plain_nll);
  EXPECT_LT(refit_nll, plain_nll);
}

}  // namespace
}  // namespace lopper
