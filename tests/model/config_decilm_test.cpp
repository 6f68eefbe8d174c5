// Reading DeciLM configs (nemotron-nas block_configs, DeciLM-7B per-layer kv heads) into lopper's
// per-layer form, and the FFN-size formula both directions rely on.
#include "lopper/model/config_decilm.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "lopper/model/config.h"
#include "lopper/util/error.h"
#include "model/layer_spec_util.h"

namespace lopper {
namespace {

constexpr auto spec = test::layer_spec;

// One block as NVIDIA's configs write it: every field, null where unused.
json block(std::optional<int> n_heads_in_group, std::optional<double> ffn_mult) {
  return {{"attention", {{"n_heads_in_group", n_heads_in_group ? json(*n_heads_in_group) : json(nullptr)},
                         {"no_op", !n_heads_in_group},
                         {"num_sink_tokens", nullptr},
                         {"replace_with_linear", false},
                         {"sparsify", nullptr},
                         {"unshifted_sink", false},
                         {"use_prefill_window_in_sink_attention", false},
                         {"window_length", nullptr}}},
          {"ffn", {{"ffn_mult", ffn_mult ? json(*ffn_mult) : json(nullptr)},
                   {"no_op", !ffn_mult},
                   {"replace_with_linear", false},
                   {"sparsify", nullptr}}}};
}

// A small nemotron-nas config: hidden 512, 8 heads; layer 1 without attention, layer 2 without FFN,
// layer 3 with 1 kv head and a narrower FFN.
json nemotron_json() {
  json j = {{"architectures", {"DeciLMForCausalLM"}},
            {"model_type", "nemotron-nas"},
            {"auto_map", {{"AutoConfig", "configuration_decilm.DeciLMConfig"}}},
            {"hidden_size", 512},
            {"num_attention_heads", 8},
            {"num_hidden_layers", 4},
            {"num_key_value_heads", nullptr},
            {"intermediate_size", nullptr},
            {"vocab_size", 100},
            {"hidden_act", "silu"},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 500000.0},
            {"max_position_embeddings", 4096},
            {"tie_word_embeddings", false},
            {"torch_dtype", "bfloat16"}};
  j["block_configs"] = {block(4, 2.625), block(std::nullopt, 3.0), block(2, std::nullopt), block(8, 1.5)};
  return j;
}

TEST(DecilmConfig, FfnWidthIsVllmFormula) {
  // Values of NVIDIA's Llama-3.x-Nemotron configs (hidden 8192): 5.25 -> 28672, 2.625 -> 14336.
  EXPECT_EQ(decilm_ffn_width(5.25, 8192), 28672);
  EXPECT_EQ(decilm_ffn_width(2.625, 8192), 14336);
  // int(2 * 1.0 * 4096 / 3) = 2730, rounded up to a multiple of 256.
  EXPECT_EQ(decilm_ffn_width(1.0, 4096), 2816);
  EXPECT_EQ(decilm_ffn_width(4.5, 256), 768);
}

TEST(DecilmConfig, FfnMultGivesBackEveryWidth) {
  for (int64_t h : {64, 96, 100, 256, 288, 576, 1000, 1536, 2048, 2304, 3072, 3584, 4096, 5120, 7168, 8192,
                    12288, 16384, 18432}) {
    for (int64_t f = 256; f <= 16 * h + 4096; f += 256) {
      double m = decilm_ffn_mult(f, h);
      ASSERT_EQ(decilm_ffn_width(m, h), f) << "hidden " << h << ", ffn_mult " << m;
    }
  }
  EXPECT_DOUBLE_EQ(decilm_ffn_mult(768, 256), 4.5);  // a plain value where one exists
  EXPECT_THROW(decilm_ffn_mult(700, 256), InputError);
  EXPECT_THROW(decilm_ffn_mult(0, 256), InputError);
}

TEST(DecilmConfig, NemotronNasLoadsAsHeterogeneousLlama) {
  auto j = nemotron_json();
  ASSERT_TRUE(is_decilm_config(j));
  auto c = ModelConfig::from_json(j, "cfg");
  EXPECT_EQ(c.arch, Arch::Llama);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.dtype, "bfloat16");
  EXPECT_DOUBLE_EQ(c.rope_theta, 500000.0);
  ASSERT_EQ(c.num_layers(), 4);
  // int(2 * 2.625 * 512 / 3) = 896, rounded up to 1024 as vLLM does.
  EXPECT_EQ(c.layers[0], spec(true, 8, 2, true, 1024));
  EXPECT_EQ(c.layers[1], spec(false, 0, 0, true, 1024));
  EXPECT_EQ(c.layers[2], spec(true, 8, 4, false, 0));
  EXPECT_EQ(c.layers[3], spec(true, 8, 1, true, 512));

  // Saved by lopper, it is a lopper checkpoint: Llama + lopper_layers, no DeciLM fields.
  auto out = c.to_json();
  EXPECT_EQ(out["architectures"], json({"LlamaForCausalLM"}));
  EXPECT_EQ(out["model_type"], "llama");
  EXPECT_FALSE(out.contains("block_configs"));
  EXPECT_FALSE(out.contains("auto_map"));
  EXPECT_EQ(out["num_key_value_heads"], 2);
  EXPECT_EQ(out["intermediate_size"], 1024);
  ASSERT_TRUE(out.contains("lopper_layers"));
  EXPECT_EQ(ModelConfig::from_json(out, "saved").layers, c.layers);
}

TEST(DecilmConfig, UniformNemotronNasIsAPlainLlama) {
  auto j = nemotron_json();
  j["block_configs"] = {block(4, 3.0), block(4, 3.0), block(4, 3.0), block(4, 3.0)};
  j.erase("architectures");  // model_type alone identifies it too
  auto c = ModelConfig::from_json(j, "cfg");
  EXPECT_TRUE(c.is_uniform());
  EXPECT_EQ(c.layers[3], spec(true, 8, 2, true, 1024));
  EXPECT_FALSE(c.to_json().contains("lopper_layers"));
}

TEST(DecilmConfig, IntermediateSizeWithoutFfnMult) {
  // ModelOpt's newer block configs give the width itself; vLLM reads it when ffn_mult is absent.
  auto j = nemotron_json();
  j["block_configs"][3]["ffn"] = {{"no_op", false}, {"intermediate_size", 700}};
  EXPECT_EQ(ModelConfig::from_json(j, "cfg").layers[3].intermediate_size, 700);
}

// The message of the error from_json throws for `j` (empty if none).
template <typename E>
std::string error_of(const json& j) {
  try {
    ModelConfig::from_json(j, "cfg");
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(DecilmConfig, RefusesWhatLopperCannotRun) {
  auto j = nemotron_json();
  j["block_configs"][2]["attention"]["replace_with_linear"] = true;
  auto msg = error_of<UnsupportedError>(j);
  EXPECT_NE(msg.find("layer 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("replace_with_linear"), std::string::npos) << msg;

  j = nemotron_json();
  j["block_configs"][3]["ffn"]["replace_with_linear"] = true;
  msg = error_of<UnsupportedError>(j);
  EXPECT_NE(msg.find("(layer 3) ffn"), std::string::npos) << msg;

  j = nemotron_json();
  j["block_configs"][0]["attention"]["window_length"] = 4096;  // sliding / sink attention
  msg = error_of<UnsupportedError>(j);
  EXPECT_NE(msg.find("window_length"), std::string::npos) << msg;

  j = nemotron_json();
  j["block_configs"][0]["ffn"]["hidden_act"] = "gelu";
  EXPECT_NE(error_of<UnsupportedError>(j).find("gelu"), std::string::npos);
}

TEST(DecilmConfig, RefusesMalformedBlocks) {
  auto j = nemotron_json();
  j["block_configs"][3]["attention"]["n_heads_in_group"] = 3;  // 8 heads
  auto msg = error_of<InputError>(j);
  EXPECT_NE(msg.find("layer 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not divide"), std::string::npos) << msg;

  j = nemotron_json();
  j["block_configs"][0]["attention"]["n_heads_in_group"] = nullptr;
  EXPECT_NE(error_of<InputError>(j).find("n_heads_in_group"), std::string::npos);

  j = nemotron_json();
  j["block_configs"][1]["ffn"]["ffn_mult"] = nullptr;
  EXPECT_NE(error_of<InputError>(j).find("ffn_mult"), std::string::npos);

  j = nemotron_json();
  j["block_configs"].erase(3);
  EXPECT_NE(error_of<InputError>(j).find("num_hidden_layers (4) entries"), std::string::npos);

  j = nemotron_json();
  j.erase("block_configs");
  EXPECT_NE(error_of<InputError>(j).find("block_configs"), std::string::npos);
}

TEST(DecilmConfig, Deci7bPerLayerKvHeads) {
  auto j = nemotron_json();
  j.erase("block_configs");
  j["model_type"] = "deci";
  j["intermediate_size"] = 1400;
  j["num_key_value_heads_per_layer"] = {4, 2, 1, 8};
  auto c = ModelConfig::from_json(j, "cfg");
  ASSERT_EQ(c.num_layers(), 4);
  EXPECT_EQ(c.layers[2], spec(true, 8, 1, true, 1400));
  EXPECT_EQ(c.layers[3].num_kv_heads, 8);
  j["num_key_value_heads_per_layer"][1] = 3;
  EXPECT_NE(error_of<InputError>(j).find("num_key_value_heads_per_layer[1]"), std::string::npos);
}

}  // namespace
}  // namespace lopper
