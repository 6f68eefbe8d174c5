// GGUF exports checked in a real llama.cpp: the file loads, greedy generation from fixed ids equals
// lopper's token for token, and llama.cpp's tokenization equals lopper's. Skips without the engine.
#include <ATen/ATen.h>

#include <fstream>

#include "export/llama_cpp_engine.h"
#include "lopper/eval/generate.h"
#include "lopper/export/gguf_export.h"
#include "lopper/export/gguf_tensor_data.h"
#include "lopper/model/random_init.h"
#include "lopper/prune/plan.h"
#include "lopper/tokenizer/tokenizer.h"
#include "model/tiny_model.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;
constexpr int kNewTokens = 32;

fs::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

// The weights llama.cpp computes with for an export in `type` (norms and biases stay f32).
void round_like_export(Model& m, GgmlType type) {
  at::NoGradGuard ng;
  for_each_tensor(m.config, [&](const TensorSpec& s) {
    at::Tensor& t = tensor_slot(m.weights, s);
    if (t.dim() == 2 && type != GgmlType::F32) t.copy_(ggml_round_trip(t, type));  // in place: a tied lm_head follows
  });
}

// A copy with its own weight storage (a tied lm_head aliases the copy's embedding).
Model deep_copy(const Model& m) {
  Model c = m;
  for_each_tensor(c.config, [&](const TensorSpec& s) { tensor_slot(c.weights, s) = tensor_slot(m.weights, s).clone(); });
  if (c.config.tie_word_embeddings) c.weights.lm_head = c.weights.embed;
  return c;
}

std::vector<int64_t> lopper_greedy(const Model& m, const std::vector<int64_t>& prompt) {
  GenerateOptions g;
  g.max_new_tokens = kNewTokens;
  g.greedy = true;
  g.stop_at_eos = false;
  auto ids = generate(m, prompt, g);
  return {ids.begin() + static_cast<long>(prompt.size()), ids.end()};
}

// Exports `m` in each dtype (default f32 and f16), runs it in llama.cpp, compares with lopper on the
// same weights.
void expect_engine_matches(Model m, const std::string& expect_arch, const std::vector<int64_t>& prompt,
                           const std::string& tag,
                           const std::vector<GgmlType>& dtypes = {GgmlType::F32, GgmlType::F16}) {
  auto dir = test::temp_dir("gguf-" + tag);
  for (auto dtype : dtypes) {
    SCOPED_TRACE(tag + " " + ggml_type_name(dtype));
    auto file = dir / fmt::format("{}-{}.gguf", tag, ggml_type_name(dtype));
    auto rep = export_gguf(m, file, GgufExportOptions{ggml_type_name(dtype), false});
    EXPECT_EQ(rep.architecture, expect_arch);
    Model rounded = deep_copy(m);
    round_like_export(rounded, dtype);
    auto want = lopper_greedy(rounded, prompt);
    auto got = test::run_llama_cpp({{"model", file.string()}, {"kv_f32", true}, {"prompt", prompt}, {"n", kNewTokens}}, dir);
    EXPECT_EQ(got.value("arch", ""), expect_arch);
    EXPECT_EQ(got.value("generated", std::vector<int64_t>{}), want);
  }
  remove_tree(dir);
}

std::vector<int64_t> prompt_of(const fs::path& model_dir, const std::string& text) {
  auto ids = Tokenizer::from_dir(model_dir).encode(text, true);
  return {ids.begin(), ids.end()};
}

TEST(GgufEngine, Stories260kMatchesLopper) {
  LOPPER_REQUIRE_LLAMA_CPP();
  auto m = Model::load(test::bundled_model(), LoadOptions{"cpu", "f32"});
  expect_engine_matches(std::move(m), "llama", prompt_of(test::bundled_model(), "Once upon a time, there was"), "s260k");
}

TEST(GgufEngine, Testbed15mMatchesLopper) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
  expect_engine_matches(std::move(m), "llama", prompt_of(testbed(), "Once upon a time, there was a little dog"), "tb",
                        {GgmlType::F32, GgmlType::F16, GgmlType::BF16});
}

// q8_0: llama.cpp also quantizes activations for q8_0 matmuls, so tokens are not expected to equal
// lopper's; the file must load and generate, and the agreement is reported.
TEST(GgufEngine, Testbed15mQ8_0Runs) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
  auto dir = test::temp_dir("gguf-q8");
  auto rep = export_gguf(m, dir / "q8.gguf", GgufExportOptions{"q8_0", false});
  const auto prompt = prompt_of(testbed(), "Once upon a time, there was a little dog");
  auto got = test::run_llama_cpp({{"model", (dir / "q8.gguf").string()}, {"kv_f32", true}, {"prompt", prompt},
                                  {"n", kNewTokens}}, dir);
  auto gen = got.value("generated", std::vector<int64_t>{});
  ASSERT_EQ(gen.size(), static_cast<size_t>(kNewTokens));
  auto common = [](const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    size_t same = 0;
    while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
    return same;
  };
  auto prefix = [&](const std::vector<int64_t>& want) { return common(gen, want); };
  Model dq = deep_copy(m);
  round_like_export(dq, GgmlType::Q8_0);  // the dequantized weights (rows of 32k: all q8_0 here)
  std::printf("q8_0 export: %.1f MB; llama.cpp's greedy tokens equal lopper's for the first %zu of %d (f32 "
              "weights) and %zu (q8_0-dequantized weights)\n",
              rep.bytes / 1e6, prefix(lopper_greedy(m, prompt)), kNewTokens, prefix(lopper_greedy(dq, prompt)));
  std::printf("  (lopper itself, f32 against q8_0-dequantized weights: the first %zu agree)\n",
              common(lopper_greedy(m, prompt), lopper_greedy(dq, prompt)));
  remove_tree(dir);
}

// Heterogeneous testbed-15m models made by plans: llama.cpp's deci architecture (or llama when the
// result is uniform again).
PruningPlan plan_of(const Model& m, const nlohmann::json& actions) {
  auto j = PruningPlan::for_model(m, "test").to_json();
  j["actions"] = actions;
  return PruningPlan::from_json(j, "test plan");
}

std::vector<int64_t> iota_n(int64_t n, int64_t step = 1) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(i * step);
  return v;
}

TEST(GgufEngine, HeterogeneousTestbedMatchesLopper) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  const auto prompt = prompt_of(testbed(), "Once upon a time, there was a little dog");
  struct Case {
    std::string tag, arch;
    nlohmann::json actions;
  };
  std::vector<Case> cases = {
      // attention removed in two layers, MLP in another, three FFN widths (one not a multiple of 32),
      // one KV group removed
      {"hetero", "deci",
       {{{"op", "remove_attention"}, {"layer", 3}},
        {{"op", "remove_attention"}, {"layer", 6}},
        {{"op", "remove_mlp"}, {"layer", 8}},
        {{"op", "keep_mlp_channels"}, {"layer", 1}, {"channels", iota_n(512)}},
        {{"op", "keep_mlp_channels"}, {"layer", 5}, {"channels", iota_n(300, 2)}},
        {{"op", "keep_mlp_channels"}, {"layer", 10}, {"channels", iota_n(256, 3)}},
        {{"op", "keep_kv_groups"}, {"layer", 11}, {"groups", {1}}}}},
      // layer 0 without attention: the one-head zero attention fill-in
      {"attn0", "deci", {{{"op", "remove_attention"}, {"layer", 0}}, {{"op", "remove_mlp"}, {"layer", 13}}}},
      // depth-pruned: uniform again
      {"depth", "llama", {{{"op", "remove_layers"}, {"layers", {4, 9}}}}},
  };
  for (const auto& c : cases) {
    auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
    plan_of(m, c.actions).apply(m);
    expect_engine_matches(std::move(m), c.arch, prompt, c.tag);
  }
}

// The rest of the family, on tiny random models (testbed-15m's tokenizer): Qwen2 with q/k/v biases
// (llama.cpp's qwen2, NeoX RoPE, unpermuted) and heterogeneous (deci, permuted biases), Qwen3 with Q/K
// norms, Llama with llama3 RoPE scaling (rope_freqs) and with linear scaling plus attention biases,
// Mistral. Random norms and biases, so that each tensor's mapping matters.
TEST(GgufEngine, RandomFamilyModelsMatchLopper) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  auto base = nlohmann::json{{"vocab_size", 8192}, {"hidden_size", 64}, {"num_hidden_layers", 3},
                             {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
                             {"intermediate_size", 96}, {"rms_norm_eps", 1e-6}, {"rope_theta", 10000.0},
                             {"max_position_embeddings", 256}, {"tie_word_embeddings", false},
                             {"torch_dtype", "float32"}};
  auto with = [&](const std::string& arch, nlohmann::json extra) {
    auto j = base;
    j["architectures"] = {arch};
    if (extra.is_object()) j.update(extra);
    return j;
  };
  struct Case {
    std::string tag, arch;
    nlohmann::json config;
    bool hetero = false;
  };
  std::vector<Case> cases = {
      {"qwen2", "qwen2", with("Qwen2ForCausalLM", {})},
      {"qwen2-hetero", "deci", with("Qwen2ForCausalLM", {}), true},
      {"qwen3", "qwen3", with("Qwen3ForCausalLM", {{"tie_word_embeddings", true}})},
      {"llama3-rope", "llama",
       with("LlamaForCausalLM", {{"rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                                   {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}}}})},
      {"linear-bias", "llama",
       with("LlamaForCausalLM", {{"rope_scaling", {{"type", "linear"}, {"factor", 2.0}}}, {"attention_bias", true}})},
      {"mistral", "llama", with("MistralForCausalLM", {{"sliding_window", nullptr}})},
  };
  const std::vector<int64_t> prompt = {8190, 1000, 2000, 300, 17, 4242, 99, 512};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.tag);
    auto cfg = ModelConfig::from_json(c.config, c.tag);
    if (c.hetero) {
      cfg.layers[1].has_attn = false;
      cfg.layers[2].num_kv_heads = 1;
      cfg.layers[0].intermediate_size = 64;
    }
    Model m = random_model(cfg, LoadOptions{"cpu", "f32"}, 7, 0.2);
    {
      c10::InferenceMode guard;  // random_model's tensors are inference tensors
      for_each_tensor(m.config, [&](const TensorSpec& s) {
        at::Tensor& t = tensor_slot(m.weights, s);
        if (t.dim() == 1) t.copy_(t + 0.3 * at::randn_like(t));  // norms near 1, biases non-zero
      });
    }
    m.source_dir = testbed();
    expect_engine_matches(std::move(m), c.arch, prompt, c.tag);
  }
}

// llama.cpp's tokenization of the tokenizer test strings equals lopper's (without special tokens;
// BOS is metadata both add the same way).
void expect_tokenization_matches(const fs::path& model_dir, const std::string& golden_name) {
  auto dir = test::temp_dir("gguf-tok");
  auto m = Model::load(model_dir, LoadOptions{"cpu", "f32"});
  auto file = dir / "tok.gguf";
  export_gguf(m, file, GgufExportOptions{"f16", false});
  auto tok = Tokenizer::from_dir(model_dir);
  std::vector<std::string> texts;
  std::ifstream in(test::shared_dir() / "golden/tokenizer_cases.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["tokenizer"] == golden_name) texts.push_back(j["text"].get<std::string>());
  }
  ASSERT_GT(texts.size(), 100u);
  auto got = test::run_llama_cpp({{"model", file.string()}, {"tokenize", texts}}, dir);
  ASSERT_EQ(got["tokenize"].size(), texts.size());
  int mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto want = tok.encode(texts[i], false);
    auto have = got["tokenize"][i].get<std::vector<int32_t>>();
    if (have != want && ++mismatches <= 5)
      ADD_FAILURE() << golden_name << " case " << i << " " << nlohmann::json(texts[i]).dump() << ": llama.cpp "
                    << nlohmann::json(have).dump() << " lopper " << nlohmann::json(want).dump();
  }
  EXPECT_EQ(mismatches, 0) << "of " << texts.size() << " strings";
  remove_tree(dir);
}

TEST(GgufEngine, TokenizationMatchesLopperStories260k) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  expect_tokenization_matches(test::shared_dir() / "models/stories260k", "stories260k");
}

// The Llama-2 SentencePiece tokenizer (61,249 merges) on a tiny random model of its vocabulary size.
TEST(GgufEngine, TokenizationMatchesLopperLlama2) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  auto dir = test::temp_dir("gguf-llama2");
  auto cfg = test::tiny_config_json();
  cfg["vocab_size"] = 32000;
  test::write_tiny_model(dir, cfg);
  for (auto f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(test::shared_dir() / "tokenizers/llama2" / f, dir / f);
  expect_tokenization_matches(dir, "llama2");
  remove_tree(dir);
}

TEST(GgufEngine, TokenizationMatchesLopperTestbed15m) {
  LOPPER_REQUIRE_SHARED();
  LOPPER_REQUIRE_LLAMA_CPP();
  expect_tokenization_matches(testbed(), "testbed-15m");
}

}  // namespace
}  // namespace lopper
