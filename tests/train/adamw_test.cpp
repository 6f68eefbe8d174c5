// AdamW against a plain per-element implementation of torch.optim.AdamW's update; the schedule of
// transformers' get_linear_schedule_with_warmup; gradient-norm clipping.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "lopper/train/adamw.h"

namespace lopper {
namespace {

TEST(AdamW, MatchesAPlainPerElementUpdate) {
  at::manual_seed(0);
  auto p = at::randn({5, 3}, at::kDouble).requires_grad_(true);
  std::vector<double> ref(p.data_ptr<double>(), p.data_ptr<double>() + 15), m(15, 0), v(15, 0);
  AdamWOptions o;
  o.weight_decay = 0.1;
  AdamW opt({p}, o);
  for (int step = 1; step <= 5; ++step) {
    auto g = at::randn({5, 3}, at::kDouble);
    p.mutable_grad() = g.clone();
    const double lr = 0.01 * step;
    opt.step(lr);
    for (int i = 0; i < 15; ++i) {
      const double gi = g.view({-1})[i].item<double>();
      ref[i] *= 1 - lr * o.weight_decay;
      m[i] = 0.9 * m[i] + 0.1 * gi;
      v[i] = 0.999 * v[i] + 0.001 * gi * gi;
      const double mh = m[i] / (1 - std::pow(0.9, step)), vh = v[i] / (1 - std::pow(0.999, step));
      ref[i] -= lr * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(p.view({-1})[i].item<double>(), ref[i], 1e-12);
}

TEST(AdamW, LinearWarmupThenDecayToZero) {
  EXPECT_DOUBLE_EQ(linear_warmup_decay(1.0, 0, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(linear_warmup_decay(1.0, 5, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(linear_warmup_decay(1.0, 10, 10, 110), 1.0);
  EXPECT_DOUBLE_EQ(linear_warmup_decay(1.0, 60, 10, 110), 0.5);
  EXPECT_DOUBLE_EQ(linear_warmup_decay(1.0, 110, 10, 110), 0.0);
  EXPECT_DOUBLE_EQ(linear_warmup_decay(2.0, 0, 0, 4), 2.0);  // no warm-up
}

TEST(AdamW, ClipGradNormScalesToTheLimit) {
  auto a = at::zeros({2}, at::kFloat).requires_grad_(true), b = at::zeros({1}, at::kFloat).requires_grad_(true);
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  EXPECT_NEAR(clip_grad_norm({a, b}, 1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad()[0].item<float>(), 0.6f, 1e-6);
  EXPECT_NEAR(b.grad()[0].item<float>(), 0.8f, 1e-6);
  EXPECT_NEAR(clip_grad_norm({a, b}, 10.0), 1.0, 1e-5);  // under the limit: unchanged
  EXPECT_NEAR(a.grad()[0].item<float>(), 0.6f, 1e-6);
}

}  // namespace
}  // namespace lopper
