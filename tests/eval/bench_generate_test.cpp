// Generation benchmark: forced-length greedy decoding equals lopper's plain generation loop, and the
// report has what the papers quote.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "lopper/eval/bench_generate.h"
#include "lopper/eval/generate.h"
#include "lopper/model/random_init.h"
#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

TEST(BenchGenerate, ForcedGreedyEqualsGenerateWithAndWithoutCache) {
  auto model = Model::load(test::bundled_model(), {"cpu", "f32"});
  const std::vector<std::vector<int64_t>> prompts = {{1, 403, 407, 261, 378}, {1, 291, 280, 294}};
  GenerateOptions g;
  g.greedy = true;
  g.stop_at_eos = false;
  g.max_new_tokens = 12;
  for (const auto& p : prompts) {
    auto forced = generate_greedy_forced(model, at::tensor(p, at::kLong).unsqueeze(0), 12);  // [1, 12]
    auto plain = generate(model, p, g);
    g.use_cache = false;
    auto recomputed = generate(model, p, g);
    g.use_cache = true;
    std::vector<int64_t> got(forced.data_ptr<int64_t>(), forced.data_ptr<int64_t>() + 12);
    EXPECT_EQ(got, std::vector<int64_t>(plain.begin() + static_cast<long>(p.size()), plain.end()));
    EXPECT_EQ(plain, recomputed);
  }
  // A batch decodes each row as it would alone.
  auto batch = at::tensor(std::vector<int64_t>{1, 403, 407, 261, 1, 291, 280, 294}, at::kLong).view({2, 4});
  auto both = generate_greedy_forced(model, batch, 6);
  for (int64_t r = 0; r < 2; ++r) EXPECT_TRUE(both[r].equal(generate_greedy_forced(model, batch[r].unsqueeze(0), 6)[0]));
}

TEST(BenchGenerate, Report) {
  auto model = Model::load(test::bundled_model(), {"cpu", "f32"});
  GenerateBenchOptions o;
  o.batches = {1, 2};
  o.gen_lens = {4, 8};
  o.prompt_len = 16;
  o.warmup = 0;
  o.repeats = 2;
  auto r = bench_generate(model, o);
  ASSERT_EQ(r["settings"].size(), 4u);
  const auto& s = r["settings"][3];
  EXPECT_EQ(s["batch"], 2);
  EXPECT_EQ(s["gen_len"], 8);
  EXPECT_GT(s["latency_s"].get<double>(), s["ttft_s"].get<double>());
  EXPECT_LE(s["latency_min_s"].get<double>(), s["latency_s"].get<double>());
  EXPECT_NEAR(s["throughput_tokens_per_s"].get<double>(), 16.0 / s["latency_s"].get<double>(), 1e-9);
  EXPECT_GE(s["memory_growth_bytes"].get<int64_t>(), 0);
  EXPECT_GT(r["bandwidth_bytes_per_s"].get<double>(), 0);
  // stories260k: 260,032 parameters minus its tied-and-read-once embedding... all fp32, all read.
  EXPECT_EQ(r["weight_bytes"], 260032 * 4);
  o.gen_lens = {600};  // 16 + 600 tokens exceed the 512-token context
  EXPECT_THROW(bench_generate(model, o), Error);
  o.gen_lens = {4};
  o.repeats = 0;
  EXPECT_THROW(bench_generate(model, o), Error);
}

}  // namespace
}  // namespace lopper
