// ffn-l2 (2SSP's first stage alone): the importance against a plain recomputation of down_proj's
// input from the MLP's own weights, the kept set is the top-k, and the plan re-applies exactly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "lopper/prune/width/ffn_importance.h"
#include "lopper/prune/width/width.h"
#include "prune/width/ffn_width_test_util.h"

namespace lopper {
namespace {

// Captures the normalized MLP input of every layer ([N, T, C], whole calibration batch).
class MlpInputs : public TapHandler {
 public:
  explicit MlpInputs(int layers) : in(layers) {}
  bool wants(int, Tap t) const override { return t == Tap::MlpIn; }
  void on(int l, Tap, at::Tensor& x) override { in[l] = x.to(at::kDouble).clone(); }
  std::vector<at::Tensor> in;
};

// Mean over samples of the L2 norm over tokens of silu(h gate^T) * (h up^T), in fp64.
std::vector<at::Tensor> plain_importance(const Model& m, const at::Tensor& ids) {
  MlpInputs taps(m.config.num_layers());
  {
    c10::InferenceMode guard;
    ForwardContext ctx;
    ctx.taps = &taps;
    m.forward(ids, ctx);
  }
  std::vector<at::Tensor> out(m.config.num_layers());
  for (int l = 0; l < m.config.num_layers(); ++l) {
    if (!m.config.layers[l].has_mlp) continue;
    const auto& w = *m.weights.layers[l].mlp;
    at::Tensor h = taps.in[l];                                     // [N, T, C]
    at::Tensor g = at::matmul(h, w.gate.to(at::kDouble).t());      // [N, T, F]
    at::Tensor act = g * at::sigmoid(g) * at::matmul(h, w.up.to(at::kDouble).t());
    out[l] = act.square().sum(1).sqrt().mean(0);                   // [F]
  }
  return out;
}

// The k largest by a full descending sort (stable: ties to the lower index), then ascending.
std::vector<int64_t> top_k(const at::Tensor& score, int64_t k) {
  at::Tensor order = at::argsort(-score, /*stable=*/true, 0, false).narrow(0, 0, k);
  std::vector<int64_t> v(order.data_ptr<int64_t>(), order.data_ptr<int64_t>() + k);
  std::sort(v.begin(), v.end());
  return v;
}

WidthOptions ffn_ratio(double ratio, int64_t align) {
  WidthOptions o;
  o.ratio = ratio;
  o.align = align;
  return o;
}

TEST(FfnL2, ImportanceEqualsPlainActivationNorms) {
  LOPPER_REQUIRE_SHARED();
  auto calib = test::testbed_calib();
  Model m = Model::load(test::testbed_dir(), {"cpu", "f32"});
  auto got = ffn_importance(m, calib.ids, 3);  // micro-batches of 3 and 1 samples
  auto want = plain_importance(m, calib.ids);
  double worst = 0;
  for (int l = 0; l < 14; ++l) {
    ASSERT_EQ(got[l].sizes(), want[l].sizes());
    worst = std::max(worst, ((got[l] - want[l]).abs() / want[l].abs().clamp_min(1e-12)).max().item<double>());
  }
  std::printf("ffn-l2 importance: max relative difference to the plain fp64 recomputation %.3g\n", worst);
  EXPECT_LT(worst, 1e-5);
}

TEST(FfnL2, KeepsTheTopChannelsAndThePlanReappliesExactly) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto calib = test::testbed_calib();
  Model pruned = Model::load(test::testbed_dir(), {"cpu", "f32"});
  auto imp = plain_importance(pruned, calib.ids);
  auto r = make_width_method("ffn-l2")->run(pruned, calib, ffn_ratio(0.3, 128));
  ASSERT_EQ(r.plan.actions.size(), 14u);
  EXPECT_FALSE(r.plan.refits_omitted);
  for (int l = 0; l < 14; ++l) {
    const auto& a = r.plan.actions[l];
    EXPECT_EQ(a.layer, l);
    // int(768 * 0.7) = 537 -> round(4.2) * 128 = 512.
    EXPECT_EQ(a.indices, top_k(imp[l], 512)) << "layer " << l;
    EXPECT_EQ(pruned.config.layers[l].intermediate_size, 512);
    EXPECT_EQ(r.details["layers"][l]["kept"], 512);
  }
  Model reapplied = Model::load(test::testbed_dir(), {"cpu", "f32"});
  PruningPlan::from_json(r.plan.to_json(), "test").apply(reapplied);
  for (int l = 0; l < 14; ++l) {
    EXPECT_EQ(reapplied.config.layers[l], pruned.config.layers[l]);
    const auto& p = *pruned.weights.layers[l].mlp;
    const auto& q = *reapplied.weights.layers[l].mlp;
    EXPECT_TRUE(at::equal(p.gate, q.gate) && at::equal(p.up, q.up) && at::equal(p.down, q.down)) << "layer " << l;
  }
  EXPECT_EQ(test::max_abs_diff(test::logits_of(pruned, calib.ids), test::logits_of(reapplied, calib.ids)), 0.0);
}

TEST(FfnL2, SkipsLayersWithoutMlpAndKeepsTheDenseOrder) {
  Progress::set_enabled(false);
  auto dir = test::write_mixed_ffn_model("ffn-l2");
  auto calib = test::random_calib(3, 12, 64, 4);
  Model m = Model::load(dir, {"cpu", "f32"});
  auto imp = plain_importance(m, calib.ids);
  auto r = make_width_method("ffn-l2")->run(m, calib, ffn_ratio(0.25, 4));
  ASSERT_EQ(r.plan.actions.size(), 2u);
  // Layer 0: int(40 * 0.75) = 30 -> round(7.5) = 8 (halves to even) -> 32; layer 2: int(18) -> round(4.5) = 4 -> 16.
  EXPECT_EQ(r.plan.actions[0].indices, top_k(imp[0], 32));
  EXPECT_EQ(r.plan.actions[1].layer, 2);
  EXPECT_EQ(r.plan.actions[1].indices, top_k(imp[2], 16));
  EXPECT_EQ(m.config.layers[0].intermediate_size, 32);
  EXPECT_FALSE(m.config.layers[1].has_mlp);
  EXPECT_EQ(m.config.layers[2].intermediate_size, 16);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lopper
