// Self-consistency: save then load is identical; structural removal equals zeroing; heterogeneous
// models round-trip through lopper's config format.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <set>

#include "lopper/model/model.h"
#include "lopper/model/save.h"
#include "lopper/prune/surgery.h"
#include "lopper/util/error.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

at::Tensor sample_ids(int64_t vocab, int64_t b, int64_t t) {
  at::manual_seed(123);
  return at::randint(0, vocab, {b, t}, at::kLong);
}

void expect_same_weights(const Model& a, const Model& b) {
  ASSERT_EQ(a.config.layers, b.config.layers);
  for_each_tensor(a.config, [&](const TensorSpec& s) {
    EXPECT_TRUE(tensor_slot(a.weights, s).equal(tensor_slot(b.weights, s))) << s.name;
  });
}

TEST(SaveLoad, BundledModelRoundTripIsIdentical) {
  c10::InferenceMode guard;
  auto m = Model::load(test::bundled_model());
  auto dir = test::temp_dir("rt");
  save_model(m, dir / "out");
  auto back = Model::load(dir / "out");
  expect_same_weights(m, back);
  auto ids = sample_ids(m.config.vocab_size, 2, 20);
  EXPECT_TRUE(m.forward(ids).equal(back.forward(ids)));
  EXPECT_TRUE(std::filesystem::exists(dir / "out/tokenizer.json"));
  EXPECT_FALSE(nlohmann::json::parse(read_file(dir / "out/config.json")).contains("lopper_layers"));
  remove_tree(dir);
}

TEST(SaveLoad, ShardedBf16RoundTrip) {
  c10::InferenceMode guard;
  auto dir = test::temp_dir("shard");
  auto cfg = test::tiny_config_json();
  cfg["torch_dtype"] = "bfloat16";
  test::write_tiny_model(dir / "in", cfg);
  auto m = Model::load(dir / "in", {"cpu", "bf16"});
  SaveOptions o;
  o.max_shard_bytes = 8000;  // forces several shards
  save_model(m, dir / "out", o);
  EXPECT_TRUE(std::filesystem::exists(dir / "out/model.safetensors.index.json"));
  auto index = nlohmann::json::parse(read_file(dir / "out/model.safetensors.index.json"));
  std::set<std::string> files;
  for (auto& [name, file] : index["weight_map"].items()) files.insert(file.get<std::string>());
  EXPECT_GT(files.size(), 2u);
  for (const auto& f : files) EXPECT_TRUE(std::filesystem::exists(dir / "out" / f)) << f;
  auto back = Model::load(dir / "out", {"cpu", "bf16"});
  expect_same_weights(m, back);
  remove_tree(dir);
}

TEST(SaveLoad, HeterogeneousModelRoundTrip) {
  c10::InferenceMode guard;
  auto m = Model::load(test::bundled_model());
  keep_mlp_channels(m, 0, {0, 5, 9, 100, 171});
  remove_attention(m, 1);
  keep_kv_groups(m, 2, {1, 3});
  remove_mlp(m, 3);
  auto dir = test::temp_dir("het");
  save_model(m, dir / "out");
  auto j = nlohmann::json::parse(read_file(dir / "out/config.json"));
  ASSERT_TRUE(j.contains("lopper_layers"));
  EXPECT_TRUE(j["lopper_layers"][1]["attention"].is_null());
  EXPECT_EQ(j["lopper_layers"][2]["attention"]["num_key_value_heads"], 2);
  auto back = Model::load(dir / "out");
  expect_same_weights(m, back);
  auto ids = sample_ids(m.config.vocab_size, 1, 33);
  EXPECT_TRUE(m.forward(ids).equal(back.forward(ids)));
  remove_tree(dir);
}

// Removing FFN channels / KV groups structurally must equal zeroing their contribution.
TEST(Surgery, StructuralRemovalEqualsZeroing) {
  c10::InferenceMode guard;
  auto ids = sample_ids(512, 2, 24);
  auto zeroed = Model::load(test::bundled_model());
  auto cut = Model::load(test::bundled_model());
  // FFN: drop channels 3..171 of layer 4 except a few kept ones.
  std::vector<int64_t> keep = {0, 1, 2, 50, 77};
  auto& down = zeroed.weights.layers[4].mlp->down;
  down = down.clone();
  for (int64_t c = 0; c < 172; ++c)
    if (std::find(keep.begin(), keep.end(), c) == keep.end()) down.select(1, c).zero_();
  keep_mlp_channels(cut, 4, keep);
  // Attention: keep KV groups 0 and 2 of layer 0 (8 heads, 4 kv heads, head_dim 8 -> 2 q heads/group).
  auto& o = zeroed.weights.layers[0].attn->o;
  o = o.clone();
  for (int64_t g : {1, 3}) o.narrow(1, g * 16, 16).zero_();
  keep_kv_groups(cut, 0, {0, 2});
  EXPECT_EQ(cut.config.layers[0].num_heads, 4);
  auto a = zeroed.forward(ids), b = cut.forward(ids);
  // Only the summation order differs (shorter reductions): agreement to fp32 rounding.
  EXPECT_TRUE(at::allclose(a, b, /*rtol=*/1e-5, /*atol=*/1e-5)) << (a - b).abs().max().item<double>();
}

TEST(Surgery, RemovingLayersRenumbers) {
  c10::InferenceMode guard;
  auto m = Model::load(test::bundled_model());
  auto before_last = m.weights.layers[4].mlp->down;
  remove_layers(m, {1, 3});
  EXPECT_EQ(m.config.num_layers(), 3);
  EXPECT_TRUE(m.weights.layers[2].mlp->down.equal(before_last));
  EXPECT_THROW(remove_layers(m, {0, 1, 2}), InputError);
  EXPECT_THROW(remove_layers(m, {7}), InputError);
}

}  // namespace
}  // namespace lopper
