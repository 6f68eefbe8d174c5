// Golden tests: fp32 CPU logits, per-layer hidden states and greedy generation against
// ../shared/golden (computed with PyTorch + transformers, eager attention, TF32 off).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>


#include "lopper/model/model.h"
#include "model/golden.h"
#include "test_paths.h"

namespace lopper {
namespace {

using test::load_golden;

class ForwardGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ForwardGolden, LogitsHiddenStatesArgmax) {
  LOPPER_REQUIRE_SHARED();
  c10::InferenceMode guard;
  auto g = load_golden(GetParam());
  auto model = Model::load(test::shared_dir() / "models" / GetParam(), {"cpu", "f32"});
  auto ids = g.tensors->tensor("input_ids").to(at::kLong).unsqueeze(0);  // [1, 64]

  // The residual stream after the embedding and after each layer, and the logits, of a forward pass.
  struct Recorder : TapHandler {
    std::vector<at::Tensor> hs;
    bool wants(int, Tap t) const override { return t == Tap::LayerIn || t == Tap::LayerOut; }
    void on(int layer, Tap t, at::Tensor& x) override {
      if (t == Tap::LayerIn && layer == 0) hs.push_back(x.clone());
      if (t == Tap::LayerOut) hs.push_back(x.clone());
    }
  };
  auto run = [&](const Model& m, Recorder& rec) {
    ForwardContext ctx;
    ctx.taps = &rec;
    return m.forward(ids, ctx)[0];  // [64, V]
  };
  Recorder rec, rec64;
  auto logits = run(model, rec);
  // The same forward in fp64: the exact value both fp32 computations (ours and the reference's) round.
  Model model64 = Model::load(test::shared_dir() / "models" / GetParam(), {"cpu", "f32"});
  model64.to(at::kCPU, at::kDouble);
  run(model64, rec64);

  auto want_logits = g.tensors->tensor("logits_pos0_15");
  double dl = (logits.narrow(0, 0, 16) - want_logits).abs().max().item<double>();
  EXPECT_LT(dl, 1e-4) << "max |logit diff| positions 0-15";

  // Hidden states: within 1e-4 of the reference. The deep residual stream of testbed-15m reaches
  // |h| ~ 100-200, where 1e-4 is ~13 fp32 ulps and the reference itself is 4.0e-5 from the exact
  // value; a BLAS with another summation order lands up to 1.1e-4 away (measured |ours - exact| at
  // hidden state 14: 5.9e-5 with OpenBLAS, 9.9e-5 with the MKL inside PyTorch's wheels on 2 threads).
  // So a layer also passes when our fp32 is within 3x the reference's own rounding of the exact
  // value, provided the exact value (our fp64 forward) is within 1e-4 of the reference: that part is
  // what catches a wrong computation.
  auto want_hs = g.tensors->tensor("hidden_states_pos0_15");  // [L+1, 16, C]
  ASSERT_EQ(static_cast<int64_t>(rec.hs.size()), want_hs.size(0));
  double dh = 0;
  int64_t worst_layer = 0;
  for (int64_t l = 0; l < want_hs.size(0); ++l) {
    auto ours = rec.hs[l][0].narrow(0, 0, 16).to(at::kDouble), want = want_hs[l].to(at::kDouble);
    auto exact = rec64.hs[l][0].narrow(0, 0, 16);
    double d = (ours - want).abs().max().item<double>();
    double ref_err = (want - exact).abs().max().item<double>(), our_err = (ours - exact).abs().max().item<double>();
    EXPECT_LT(ref_err, 1e-4) << "hidden state " << l << ": the fp64 forward is off the reference";
    EXPECT_TRUE(d < 1e-4 || our_err <= 3 * ref_err)
        << "hidden state " << l << ": |ours - reference| " << d << ", |ours - exact| " << our_err
        << ", |reference - exact| " << ref_err;
    if (d > dh) dh = d, worst_layer = l;
  }
  auto want_norm = g.tensors->tensor("final_norm_out_pos0_15");
  double dn = (model.final_norm(rec.hs.back())[0].narrow(0, 0, 16) - want_norm).abs().max().item<double>();
  EXPECT_LT(dn, 1e-4);

  auto argmax = logits.argmax(-1).to(at::kInt);
  EXPECT_TRUE(argmax.equal(g.tensors->tensor("argmax_pos0_63"))) << "argmax differs";

  // Next-token NLL at all 63 positions.
  auto logp = at::log_softmax(logits.narrow(0, 0, 63), -1);
  auto nll = -logp.gather(1, ids[0].narrow(0, 1, 63).unsqueeze(1)).squeeze(1);
  double dnll = (nll - g.tensors->tensor("nll_pos0_62")).abs().max().item<double>();
  EXPECT_LT(dnll, 1e-4);
  std::printf("[%s] max|dlogit| %.3g  max|dnll| %.3g  max|dhidden| %.3g (hidden state %ld)\n", GetParam().c_str(),
              dl, dnll, dh, static_cast<long>(worst_layer));
}

TEST_P(ForwardGolden, GreedyGenerationWithAndWithoutCache) {
  LOPPER_REQUIRE_SHARED();
  test::expect_golden_generation(Model::load(test::shared_dir() / "models" / GetParam(), {"cpu", "f32"}),
                                 load_golden(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardGolden, ::testing::Values("stories260k", "testbed-15m"));

}  // namespace
}  // namespace lopper
