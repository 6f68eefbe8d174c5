// Random-weight models: the structure of the config (heterogeneous layers included), deterministic
// per seed, and they run through the same forward pass as loaded models.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/model/random_init.h"
#include "model/tiny_model.h"

namespace lopper {
namespace {

TEST(RandomInit, StructureSeedAndForward) {
  c10::InferenceMode guard;
  auto j = test::tiny_config_json();
  const nlohmann::json attn = {{"num_attention_heads", 4}, {"num_key_value_heads", 2}};
  j["lopper_layers"] = nlohmann::json::array(
      {{{"attention", nullptr}, {"mlp", {{"intermediate_size", 24}}}},
       {{"attention", {{"num_attention_heads", 2}, {"num_key_value_heads", 1}}}, {"mlp", {{"intermediate_size", 40}}}},
       {{"attention", attn}, {"mlp", nullptr}}});
  auto cfg = ModelConfig::from_json(j, "tiny");
  auto a = random_model(cfg, {"cpu", "f32"}, 7), b = random_model(cfg, {"cpu", "f32"}, 7);
  auto c = random_model(cfg, {"cpu", "f32"}, 8);
  EXPECT_FALSE(a.weights.layers[0].attn.has_value());
  EXPECT_EQ(a.weights.layers[0].mlp->gate.sizes(), (at::IntArrayRef{24, 32}));
  EXPECT_EQ(a.weights.layers[1].attn->k.size(0), 1 * cfg.head_dim);
  EXPECT_FALSE(a.weights.layers[2].mlp.has_value());
  EXPECT_TRUE(a.weights.layers[1].attn->norm.equal(at::ones({32})));
  EXPECT_NEAR(a.weights.embed.std().item<double>(), 0.02, 0.004);
  int64_t counted = 0;
  for_each_tensor(cfg, [&](const TensorSpec& s) {
    EXPECT_TRUE(tensor_slot(a.weights, s).equal(tensor_slot(b.weights, s))) << s.name;
    counted += tensor_slot(a.weights, s).numel();
  });
  EXPECT_EQ(counted, count_params(cfg).total);
  EXPECT_FALSE(a.weights.embed.equal(c.weights.embed));
  auto logits = a.forward(at::randint(0, 64, {2, 9}, at::kLong));  // [2, 9, V]
  EXPECT_EQ(logits.sizes(), (at::IntArrayRef{2, 9, 64}));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  auto half = random_model(cfg, {"cpu", "bf16"}, 7);
  EXPECT_EQ(half.weights.layers[1].mlp->down.scalar_type(), at::kBFloat16);
}

}  // namespace
}  // namespace lopper
