#include "lopper/model/config.h"

#include <gtest/gtest.h>

#include "lopper/util/error.h"
#include "test_paths.h"

namespace lopper {
namespace {

json llama_json() {
  return json::parse(R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 100, "hidden_size": 32,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
    "intermediate_size": 48, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "weird_field": 7})");
}

TEST(ModelConfig, ParsesLlamaDefaults) {
  auto c = ModelConfig::from_json(llama_json(), "cfg");
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.head_dim, 8);
  ASSERT_EQ(c.num_layers(), 3);
  EXPECT_EQ(c.layers[1].num_kv_heads, 2);
  EXPECT_EQ(c.layers[2].intermediate_size, 48);
  EXPECT_TRUE(c.is_uniform());
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.to_json().contains("lopper_layers"));
  EXPECT_EQ(c.to_json()["weird_field"], 7);  // unknown fields survive a round trip
}

TEST(ModelConfig, ArchitectureSpecifics) {
  auto j = llama_json();
  j["architectures"] = {"Qwen2ForCausalLM"};
  auto q2 = ModelConfig::from_json(j, "cfg");
  EXPECT_TRUE(q2.qkv_bias);
  EXPECT_FALSE(q2.o_bias);
  j["architectures"] = {"Qwen3ForCausalLM"};
  j["head_dim"] = 16;
  auto q3 = ModelConfig::from_json(j, "cfg");
  EXPECT_TRUE(q3.qk_norm);
  EXPECT_EQ(q3.head_dim, 16);
  j["architectures"] = {"MistralForCausalLM"};
  j["sliding_window"] = 64;
  auto m = ModelConfig::from_json(j, "cfg");
  EXPECT_EQ(m.layers[0].sliding_window, 64);
}

TEST(ModelConfig, RopeScaling) {
  auto j = llama_json();
  j["rope_scaling"] = json::parse(R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  EXPECT_EQ(ModelConfig::from_json(j, "cfg").rope_scaling.type, "llama3");
  j["rope_scaling"] = json::parse(R"({"type": "linear", "factor": 2.0})");
  EXPECT_DOUBLE_EQ(ModelConfig::from_json(j, "cfg").rope_scaling.factor, 2.0);
  j["rope_scaling"] = json::parse(R"({"type": "yarn", "factor": 2.0})");
  EXPECT_THROW(ModelConfig::from_json(j, "cfg"), UnsupportedError);
}

TEST(ModelConfig, UnknownArchitectureListsSupported) {
  auto j = llama_json();
  j["architectures"] = {"GPT2LMHeadModel"};
  try {
    ModelConfig::from_json(j, "x/config.json");
    FAIL();
  } catch (const UnsupportedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("GPT2LMHeadModel"), std::string::npos);
    EXPECT_NE(msg.find("Qwen3ForCausalLM"), std::string::npos);
    EXPECT_NE(msg.find("x/config.json"), std::string::npos);
  }
}

TEST(ModelConfig, HeterogeneousRoundTrip) {
  auto c = ModelConfig::from_json(llama_json(), "cfg");
  c.layers[0].has_attn = false;
  c.layers[0].num_heads = c.layers[0].num_kv_heads = 0;
  c.layers[1].num_heads = 2;
  c.layers[1].num_kv_heads = 1;
  c.layers[2].has_mlp = false;
  c.layers[2].intermediate_size = 0;
  EXPECT_FALSE(c.is_uniform());
  auto j = c.to_json();
  ASSERT_TRUE(j.contains("lopper_layers"));
  auto back = ModelConfig::from_json(j, "cfg");
  EXPECT_EQ(back.layers, c.layers);
}

TEST(ModelConfig, BadValues) {
  auto j = llama_json();
  j["num_key_value_heads"] = 3;
  EXPECT_THROW(ModelConfig::from_json(j, "cfg"), InputError);
  j = llama_json();
  j.erase("hidden_size");
  EXPECT_THROW(ModelConfig::from_json(j, "cfg"), InputError);
  j = llama_json();
  j["hidden_size"] = "big";
  EXPECT_THROW(ModelConfig::from_json(j, "cfg"), InputError);
}

TEST(ModelConfig, LoadsSharedModels) {
  LOPPER_REQUIRE_SHARED();
  auto t = ModelConfig::load(test::shared_dir() / "models/testbed-15m");
  EXPECT_EQ(t.num_layers(), 14);
  EXPECT_FALSE(t.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(t.rope_theta, 500000.0);
  auto s = ModelConfig::load(test::bundled_model());
  EXPECT_TRUE(s.tie_word_embeddings);
  EXPECT_EQ(s.head_dim, 8);
}

}  // namespace
}  // namespace lopper
