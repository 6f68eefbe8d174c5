// CUDA forward against the CPU fp32 reference. Skips cleanly without a GPU (and in CPU-only builds).
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lopper/data/datasets.h"
#include "lopper/eval/perplexity.h"
#include "lopper/model/model.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/golden.h"
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

// The golden checks of forward_golden_test.cpp, on the GPU in fp32 (cuBLAS without TF32, which
// libtorch leaves off for matmuls by default).
class CudaGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaGolden, Fp32LogitsArgmaxAndGreedyGeneration) {
  LOPPER_REQUIRE_CUDA();
  LOPPER_REQUIRE_SHARED();
  c10::InferenceMode guard;
  auto g = test::load_golden(GetParam());
  auto model = Model::load(test::shared_dir() / "models" / GetParam(), {"cuda", "f32"});
  auto ids = g.tensors->tensor("input_ids").to(at::kLong).unsqueeze(0).to(at::kCUDA);  // [1, 64]
  auto logits = model.forward(ids)[0].to(at::kCPU);                                    // [64, V]
  double dl = (logits.narrow(0, 0, 16) - g.tensors->tensor("logits_pos0_15")).abs().max().item<double>();
  EXPECT_LT(dl, 1e-4);
  EXPECT_TRUE(logits.argmax(-1).to(at::kInt).equal(g.tensors->tensor("argmax_pos0_63")));
  std::printf("[%s cuda f32] max|dlogit| %.3g\n", GetParam().c_str(), dl);
  test::expect_golden_generation(model, g);
}

// bf16 on the GPU: perplexity within 1% of the fp32 golden on all three datasets (main protocol),
// and fp32 on the GPU within 1e-5 relative, like the CPU.
TEST_P(CudaGolden, PerplexityBf16WithinOnePercentFp32Exact) {
  LOPPER_REQUIRE_CUDA();
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  auto golden = test::load_golden(GetParam()).json;
  auto mdir = test::shared_dir() / "models" / GetParam();
  auto tok = Tokenizer::from_dir(mdir);
  auto bf16 = Model::load(mdir, {"cuda", "bf16"});
  auto f32 = Model::load(mdir, {"cuda", "f32"});
  for (const char* dataset : {"wikitext2", "c4", "ptb"}) {
    const auto& want = golden["perplexity"][dataset]["main"];
    auto ids = tok.encode(load_dataset(dataset, DataDirs::resolve(test::shared_dir() / "data")).text);
    PerplexityOptions o;
    o.seqlen = want["seqlen"].get<int64_t>();
    const double g = want["ppl"].get<double>();
    auto r16 = perplexity(bf16, ids, o, dataset);
    auto r32 = perplexity(f32, ids, o, dataset);
    EXPECT_EQ(r16.windows, want["nsamples"].get<int64_t>());
    EXPECT_LT(std::abs(r16.ppl - g) / g, 0.01) << dataset << " bf16 " << r16.ppl << " vs golden " << g;
    EXPECT_LT(std::abs(r32.ppl - g) / g, 1e-5) << dataset << " f32 " << r32.ppl << " vs golden " << g;
    std::printf("[%s %s cuda] bf16 ppl %.4f (%+.3f%%), f32 ppl %.6f (rel %.2g), golden %.6f\n", GetParam().c_str(),
                dataset, r16.ppl, 100 * (r16.ppl - g) / g, r32.ppl, std::abs(r32.ppl - g) / g, g);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CudaGolden, ::testing::Values("stories260k", "testbed-15m"));

}  // namespace
}  // namespace lopper
