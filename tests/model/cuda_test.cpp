// CUDA forward against the CPU fp32 reference. Skips cleanly without a GPU (and in CPU-only builds).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/eval/generate.h"
#include "lopper/eval/perplexity.h"
#include "lopper/model/model.h"
#include "test_paths.h"

namespace lopper {
namespace {

#define LOPPER_REQUIRE_CUDA() \
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device"

TEST(Cuda, Fp32LogitsMatchCpu) {
  LOPPER_REQUIRE_CUDA();
  c10::InferenceMode guard;
  auto cpu = Model::load(test::bundled_model(), {"cpu", "f32"});
  auto gpu = Model::load(test::bundled_model(), {"cuda", "f32"});
  at::manual_seed(0);
  auto ids = at::randint(0, cpu.config.vocab_size, {2, 128}, at::kLong);
  auto a = cpu.forward(ids), b = gpu.forward(ids).to(at::kCPU);
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-4);
}

TEST(Cuda, Bf16LossCloseToFp32AndCacheMatches) {
  LOPPER_REQUIRE_CUDA();
  c10::InferenceMode guard;
  auto cpu = Model::load(test::bundled_model(), {"cpu", "f32"});
  auto gpu = Model::load(test::bundled_model(), {"cuda", "bf16"});
  at::manual_seed(0);
  auto ids = at::randint(0, cpu.config.vocab_size, {4, 256}, at::kLong);
  double n = 4.0 * 255;
  double l32 = next_token_nll_sum(cpu.forward(ids), ids, 1).sum().item<double>() / n;
  double l16 = next_token_nll_sum(gpu.forward(ids.to(at::kCUDA)), ids.to(at::kCUDA), 1).sum().item<double>() / n;
  EXPECT_LT(std::abs(l16 - l32) / l32, 0.01);
  GenerateOptions o;
  o.greedy = true;
  o.max_new_tokens = 16;
  o.stop_at_eos = false;
  auto with_cache = generate(gpu, {1, 403, 407}, o);
  o.use_cache = false;
  EXPECT_EQ(with_cache.size(), generate(gpu, {1, 403, 407}, o).size());
}

}  // namespace
}  // namespace lopper
