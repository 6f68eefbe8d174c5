// `--to decilm`: the nemotron-nas config and tensor names checked against the rules of vLLM's loader
// (vllm/model_executor/models/nemotron_nas.py), the refusals, and a round trip through lopper's own
// DeciLM loading.
#include "lopper/export/decilm.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <set>

#include "lopper/io/safetensors.h"
#include "lopper/model/config_decilm.h"
#include "lopper/prune/surgery.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "model/layer_spec_util.h"
#include "test_paths.h"

namespace lopper {
namespace {

constexpr auto spec = test::layer_spec;

// testbed-15m's config.json (14 layers, hidden 256, FFN 768, 4 heads, 2 kv heads, head_dim 64).
json testbed_json() {
  return json::parse(R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 8190,
    "dtype": "bfloat16", "eos_token_id": 8191, "head_dim": 64, "hidden_act": "silu", "hidden_size": 256,
    "intermediate_size": 768, "max_position_embeddings": 1024, "mlp_bias": false, "model_type": "llama",
    "num_attention_heads": 4, "num_hidden_layers": 14, "num_key_value_heads": 2, "pad_token_id": null,
    "rms_norm_eps": 1e-05, "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
    "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 8192})");
}

// The heterogeneous structure used throughout: attention removed in layers 2 and 5, MLP in layer 7,
// FFN widths 512 / 256 / 512 in layers 9..11, one kv head (of 2) in layer 12.
void make_heterogeneous(std::vector<LayerSpec>& layers) {
  for (int i : {2, 5}) layers[i] = spec(false, 0, 0, true, 768);
  layers[7] = spec(true, 4, 2, false, 0);
  layers[9].intermediate_size = 512;
  layers[10].intermediate_size = 256;
  layers[11].intermediate_size = 512;
  layers[12].num_kv_heads = 1;
}

ModelConfig heterogeneous_config() {
  auto c = ModelConfig::from_json(testbed_json(), "testbed");
  make_heterogeneous(c.layers);
  return c;
}

json attention(std::optional<int> group) {
  return {{"no_op", !group}, {"replace_with_linear", false},
          {"n_heads_in_group", group ? json(*group) : json(nullptr)}};
}
json ffn(std::optional<double> mult) {
  return {{"no_op", !mult}, {"replace_with_linear", false}, {"ffn_mult", mult ? json(*mult) : json(nullptr)}};
}

// The names a nemotron-nas model with the structure above has, written out from the rule (a layer
// without attention has neither input_layernorm nor self_attn.*, without FFN neither
// post_attention_layernorm nor mlp.*), not from lopper's tensor visitor.
std::set<std::string> expected_names() {
  std::set<std::string> names = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  for (int i = 0; i < 14; ++i) {
    auto p = fmt::format("model.layers.{}.", i);
    if (i != 2 && i != 5)
      for (const char* n : {"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                            "self_attn.v_proj.weight", "self_attn.o_proj.weight"})
        names.insert(p + n);
    if (i != 7)
      for (const char* n : {"post_attention_layernorm.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                            "mlp.down_proj.weight"})
        names.insert(p + n);
  }
  return names;
}

std::map<std::string, std::vector<int64_t>> written_tensors(const std::filesystem::path& dir) {
  std::map<std::string, std::vector<int64_t>> out;
  auto f = SafetensorsFile::open(dir / "model.safetensors");
  for (const auto& e : f->entries()) out[e.name] = e.shape;
  return out;
}

TEST(DecilmExport, BlockConfigsFollowTheRules) {
  auto j = decilm_config(heterogeneous_config());
  EXPECT_EQ(j["architectures"], json({"DeciLMForCausalLM"}));
  EXPECT_EQ(j["model_type"], "nemotron-nas");
  EXPECT_EQ(j["auto_map"]["AutoConfig"], "configuration_decilm.DeciLMConfig");
  EXPECT_EQ(j["num_hidden_layers"], 14);
  EXPECT_EQ(j["hidden_size"], 256);
  EXPECT_EQ(j["num_attention_heads"], 4);
  EXPECT_EQ(j["num_key_value_heads"], 2);  // the first attention block's, as vLLM derives it
  EXPECT_EQ(j["head_dim"], 64);
  EXPECT_EQ(j["vocab_size"], 8192);
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_DOUBLE_EQ(j["rms_norm_eps"].get<double>(), 1e-5);
  EXPECT_DOUBLE_EQ(j["rope_theta"].get<double>(), 500000.0);
  EXPECT_TRUE(j["rope_scaling"].is_null());
  EXPECT_EQ(j["max_position_embeddings"], 1024);
  EXPECT_EQ(j["tie_word_embeddings"], false);
  EXPECT_EQ(j["bos_token_id"], 8190);
  EXPECT_EQ(j["eos_token_id"], 8191);
  EXPECT_FALSE(j.contains("lopper_layers"));

  // 768 = 3/2 * 4.5 * 256; 512 -> 3.0; 256 -> 1.5.
  json expected = json::array();
  for (int i = 0; i < 14; ++i) expected.push_back({{"attention", attention(2)}, {"ffn", ffn(4.5)}});
  expected[2]["attention"] = expected[5]["attention"] = attention(std::nullopt);
  expected[7]["ffn"] = ffn(std::nullopt);
  expected[9]["ffn"] = expected[11]["ffn"] = ffn(3.0);
  expected[10]["ffn"] = ffn(1.5);
  expected[12]["attention"] = attention(4);
  EXPECT_EQ(j["block_configs"], expected);

  // vLLM's reading of each block gives back lopper's layer.
  auto c = heterogeneous_config();
  for (int i = 0; i < 14; ++i) {
    const json& b = j["block_configs"][i];
    if (c.layers[i].has_attn) {
      EXPECT_EQ(4 / b["attention"]["n_heads_in_group"].get<int>(), c.layers[i].num_kv_heads) << i;
    }
    if (c.layers[i].has_mlp) {
      EXPECT_EQ(decilm_ffn_width(b["ffn"]["ffn_mult"].get<double>(), 256), c.layers[i].intermediate_size) << i;
    }
  }
}

TEST(DecilmExport, KeepsRopeScaling) {
  auto j = testbed_json();
  j["rope_scaling"] = json::parse(R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  j["tie_word_embeddings"] = true;
  auto out = decilm_config(ModelConfig::from_json(j, "cfg"));
  EXPECT_EQ(out["rope_scaling"], j["rope_scaling"]);
  EXPECT_EQ(out["tie_word_embeddings"], true);
  // And lopper reads it back the same.
  auto back = ModelConfig::from_json(out, "out");
  EXPECT_EQ(back.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(back.rope_scaling.factor, 8.0);
  EXPECT_TRUE(back.tie_word_embeddings);
}

// decilm_config's error message for `c` (empty if it does not throw InputError).
std::string refusal(const ModelConfig& c) {
  try {
    decilm_config(c);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(DecilmExport, RefusesWhatNemotronNasCannotHold) {
  auto c = heterogeneous_config();
  c.layers[3].intermediate_size = 700;
  auto msg = refusal(c);
  EXPECT_NE(msg.find("layer 3: FFN width 700 is not a multiple of 256"), std::string::npos) << msg;

  c = heterogeneous_config();
  c.layers[0] = spec(false, 0, 0, true, 768);
  msg = refusal(c);
  EXPECT_NE(msg.find("layer 0: has no attention"), std::string::npos) << msg;

  c = heterogeneous_config();
  c.layers[5] = spec(true, 2, 1, true, 768);  // a kv group removed with its query heads
  msg = refusal(c);
  EXPECT_NE(msg.find("layer 5: 2 query heads, but nemotron-nas has one global query-head count (4)"),
            std::string::npos)
      << msg;

  c = heterogeneous_config();
  c.layers[8] = spec(false, 0, 0, false, 0);
  EXPECT_NE(refusal(c).find("layer 8: has neither attention nor MLP"), std::string::npos);

  c = heterogeneous_config();
  c.layers[4].sliding_window = 128;
  EXPECT_NE(refusal(c).find("layer 4: sliding-window"), std::string::npos);

  auto q = testbed_json();
  q["architectures"] = {"Qwen2ForCausalLM"};
  msg = refusal(ModelConfig::from_json(q, "qwen2"));
  EXPECT_NE(msg.find("DeciLM holds Llama-family layers without biases or Q/K norms"), std::string::npos) << msg;
  q["architectures"] = {"Qwen3ForCausalLM"};
  EXPECT_NE(refusal(ModelConfig::from_json(q, "qwen3")).find("Q/K norms"), std::string::npos);
  auto b = testbed_json();
  b["attention_bias"] = true;
  EXPECT_NE(refusal(ModelConfig::from_json(b, "bias")).find("biases"), std::string::npos);
}

TEST(DecilmExport, WrittenTensorsAreNemotronNasNames) {
  // Random weights with the heterogeneous structure (vocabulary cut to 64): no shared assets needed.
  c10::InferenceMode guard;
  auto dir = test::temp_dir("decilm-names");
  auto j = testbed_json();
  j["vocab_size"] = 64;
  j["torch_dtype"] = j["dtype"] = "float32";
  auto c = ModelConfig::from_json(j, "cfg");
  make_heterogeneous(c.layers);
  test::write_tiny_model(dir / "in", c.to_json());
  auto m = Model::load(dir / "in");
  export_decilm(m, dir / "out");

  auto tensors = written_tensors(dir / "out");
  std::set<std::string> names;
  for (const auto& [n, shape] : tensors) names.insert(n);
  EXPECT_EQ(names, expected_names());
  EXPECT_EQ(tensors["model.layers.12.self_attn.k_proj.weight"], (std::vector<int64_t>{64, 256}));
  EXPECT_EQ(tensors["model.layers.12.self_attn.q_proj.weight"], (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(tensors["model.layers.10.mlp.gate_proj.weight"], (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(tensors["model.layers.9.mlp.down_proj.weight"], (std::vector<int64_t>{256, 512}));

  auto cfg = json::parse(read_file(dir / "out/config.json"));
  EXPECT_EQ(cfg["model_type"], "nemotron-nas");
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_TRUE(std::filesystem::exists(dir / "out/configuration_decilm.py"));
  EXPECT_NE(read_file(dir / "out/configuration_decilm.py").find("class DeciLMConfig(LlamaConfig)"),
            std::string::npos);
  remove_tree(dir);
}

TEST(DecilmExport, RoundTripGivesIdenticalLogits) {
  LOPPER_REQUIRE_SHARED();
  c10::InferenceMode guard;
  auto m = Model::load(test::shared_dir() / "models/testbed-15m", {"cpu", "f32"});
  remove_attention(m, 2);
  remove_attention(m, 5);
  remove_mlp(m, 7);
  auto first = [](int64_t n) {
    std::vector<int64_t> v(n);
    for (int64_t i = 0; i < n; ++i) v[i] = i;
    return v;
  };
  keep_mlp_channels(m, 9, first(512));
  keep_mlp_channels(m, 10, first(256));
  keep_mlp_channels(m, 11, first(512));
  // Layer 12: the two kv heads merged into one (their mean) for all 4 query heads. Surgery's
  // keep_kv_groups would drop query heads too, which nemotron-nas cannot hold.
  auto& attn = *m.weights.layers[12].attn;
  attn.k = (attn.k.narrow(0, 0, 64) + attn.k.narrow(0, 64, 64)) / 2;  // [64, 256]
  attn.v = (attn.v.narrow(0, 0, 64) + attn.v.narrow(0, 64, 64)) / 2;  // [64, 256]
  m.config.layers[12].num_kv_heads = 1;
  auto expected = heterogeneous_config();
  ASSERT_EQ(m.config.layers, expected.layers);

  auto dir = test::temp_dir("decilm-rt");
  SaveOptions o;
  o.dtype = at::kFloat;  // testbed is bf16; keep fp32 so the logits can be compared exactly
  export_decilm(m, dir / "decilm", o);
  std::set<std::string> names;
  for (const auto& [n, shape] : written_tensors(dir / "decilm")) names.insert(n);
  EXPECT_EQ(names, expected_names());
  EXPECT_TRUE(std::filesystem::exists(dir / "decilm/tokenizer.json"));

  auto back = Model::load(dir / "decilm", {"cpu", "f32"});
  EXPECT_EQ(back.config.layers, m.config.layers);
  EXPECT_EQ(back.config.architecture, "LlamaForCausalLM");
  at::manual_seed(7);
  auto ids = at::randint(0, m.config.vocab_size, {2, 24}, at::kLong);
  auto want = m.forward(ids);
  auto got = back.forward(ids);
  EXPECT_EQ((want - got).abs().max().item<float>(), 0.0f);

  // Saved again by lopper, the DeciLM input becomes a lopper checkpoint with the same structure.
  save_model(back, dir / "lopper", o);
  auto saved = json::parse(read_file(dir / "lopper/config.json"));
  EXPECT_EQ(saved["architectures"], json({"LlamaForCausalLM"}));
  EXPECT_FALSE(saved.contains("block_configs"));
  EXPECT_FALSE(std::filesystem::exists(dir / "lopper/configuration_decilm.py"));
  auto again = Model::load(dir / "lopper", {"cpu", "f32"});
  EXPECT_EQ(again.config.layers, m.config.layers);
  EXPECT_TRUE(again.forward(ids).equal(want));
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
