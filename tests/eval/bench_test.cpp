// Prefill benchmark: the FLOP count against a hand count, and the report's fields.
#include <gtest/gtest.h>

#include "lopper/eval/bench.h"
#include "lopper/model/random_init.h"
#include "lopper/util/error.h"
#include "model/tiny_model.h"

namespace lopper {
namespace {

TEST(Bench, ForwardFlopsCountsMatricesAndCausalAttention) {
  auto j = test::tiny_config_json();  // V 64, C 32, 3 layers, H 4, KV 2, D 8, F 40
  const nlohmann::json attn_j = {{"num_attention_heads", 4}, {"num_key_value_heads", 2}}, mlp_j = {{"intermediate_size", 40}};
  j["lopper_layers"] = nlohmann::json::array({{{"attention", nullptr}, {"mlp", mlp_j}},
                                              {{"attention", attn_j}, {"mlp", mlp_j}},
                                              {{"attention", attn_j}, {"mlp", nullptr}}});
  auto cfg = ModelConfig::from_json(j, "tiny");
  const double attn_params = 32.0 * 8 * (4 + 4 + 2 + 2), mlp_params = 3.0 * 32 * 40, head = 64.0 * 32;
  const double params = head + 2 * attn_params + 2 * mlp_params;
  const double B = 3, T = 10, attn = 2 * (2 * T * T * 4 * 8) * B;  // two layers with attention
  EXPECT_DOUBLE_EQ(forward_flops(cfg, 3, 10), 2 * params * B * T + attn);
}

TEST(Bench, PrefillReport) {
  auto model = random_model(ModelConfig::from_json(test::tiny_config_json(), "tiny"), {"cpu", "f32"});
  BenchOptions o;
  o.batches = {1, 3};
  o.seqlen = 16;
  o.iters = 1;
  o.peak_tflops = 1.0;
  auto r = bench_prefill(model, o);
  ASSERT_EQ(r["prefill"].size(), 2u);
  EXPECT_EQ(r["prefill"][1]["batch"], 3);
  EXPECT_GT(r["prefill"][1]["tokens_per_s"].get<double>(), 0);
  EXPECT_GT(r["prefill"][0]["mfu"].get<double>(), 0);
  EXPECT_GT(r["peak_memory_bytes"].get<int64_t>(), 0);
  o.batches = {0};
  EXPECT_THROW(bench_prefill(model, o), Error);
}

}  // namespace
}  // namespace lopper
