// SliceGPT: rotation without slicing is computationally invariant (testbed-15m; tiny models with tied
// embeddings, biases, Q/K norms, missing sublayers); slicing degrades WikiText-2 perplexity smoothly;
// targets and bad options.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "lopper/calib/calibration.h"
#include "lopper/data/datasets.h"
#include "lopper/eval/perplexity.h"
#include "lopper/prune/width/slicegpt.h"
#include "lopper/prune/width/width.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::filesystem::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

at::Tensor random_ids(int64_t vocab, int64_t n, int64_t t, uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(0, vocab, {n, t}, at::kLong);  // [n, t]
}

// Rotates with d' = d and returns the max abs difference of the fp32 logits on other tokens.
double invariance_error(Model& m, int64_t calib_n, int64_t calib_t) {
  auto eval = random_ids(m.config.vocab_size, 2, 24, 7);
  auto before = m.forward(eval);  // [2, 24, V]
  slicegpt_rotate(m, random_ids(m.config.vocab_size, calib_n, calib_t, 1), m.config.hidden_size, 0.01, 4);
  EXPECT_TRUE(is_sliced(m.config));
  return (m.forward(eval) - before).abs().max().item<double>();
}

TEST(SliceGpt, RotationWithoutSlicingIsInvariantOnTestbed) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  c10::InferenceMode guard;
  auto m = Model::load(testbed(), {"cpu", "f32"});
  const auto embed = m.weights.embed.clone();
  const double err = invariance_error(m, 8, 64);
  std::printf("testbed-15m, d' = d = %lld: max |logits diff| = %.3g\n", static_cast<long long>(m.config.hidden_size), err);
  EXPECT_LT(err, 1e-4);
  EXPECT_GT((m.weights.embed - embed).abs().max().item<double>(), 1e-3) << "the model was really rotated";
  EXPECT_TRUE(m.weights.layers[0].attn->shortcut.defined());
}

TEST(SliceGpt, RotationWithoutSlicingIsInvariantOnTinyModels) {
  Progress::set_enabled(false);
  c10::InferenceMode guard;
  auto qwen2 = test::tiny_config_json("Qwen2ForCausalLM");  // q/k/v biases
  qwen2["tie_word_embeddings"] = true;
  auto llama = test::tiny_config_json();  // every bias: q/k/v/o and gate/up/down
  llama["tie_word_embeddings"] = true;
  llama["attention_bias"] = true;
  llama["mlp_bias"] = true;
  auto qwen3 = test::tiny_config_json("Qwen3ForCausalLM");  // q/k norms
  auto hetero = test::tiny_config_json();  // a layer without attention, one without MLP
  hetero["lopper_layers"] = {
      {{"attention", nullptr}, {"mlp", {{"intermediate_size", 24}}}},
      {{"attention", {{"num_attention_heads", 4}, {"num_key_value_heads", 2}}}, {"mlp", nullptr}},
      {{"attention", {{"num_attention_heads", 2}, {"num_key_value_heads", 1}}}, {"mlp", {{"intermediate_size", 40}}}}};
  auto dir = test::temp_dir("slicegpt-inv");
  int n = 0;
  for (const auto& cfg : {qwen2, llama, qwen3, hetero}) {
    auto path = dir / std::to_string(n++);
    test::write_tiny_model(path, cfg, 3);
    auto m = Model::load(path, {"cpu", "f32"});
    const double err = invariance_error(m, 8, 16);
    std::printf("tiny %s%s: max |logits diff| = %.3g\n", m.config.architecture.c_str(),
                cfg.contains("lopper_layers") ? " (heterogeneous)" : "", err);
    EXPECT_LT(err, 1e-4) << cfg.dump();
    EXPECT_FALSE(m.config.tie_word_embeddings);
  }
  remove_tree(dir);
}

// A heterogeneous model sliced: widths follow the spec, the last sublayer (layer 2's MLP) keeps d.
TEST(SliceGpt, SlicesHeterogeneousLayers) {
  Progress::set_enabled(false);
  c10::InferenceMode guard;
  auto cfg = test::tiny_config_json();
  cfg["lopper_layers"] = {{{"attention", nullptr}, {"mlp", {{"intermediate_size", 24}}}},
                          {{"attention", {{"num_attention_heads", 4}, {"num_key_value_heads", 2}}}, {"mlp", nullptr}},
                          {{"attention", nullptr}, {"mlp", nullptr}}};
  auto dir = test::temp_dir("slicegpt-het");
  test::write_tiny_model(dir, cfg, 5);
  auto m = Model::load(dir, {"cpu", "f32"});
  slicegpt_rotate(m, random_ids(64, 8, 16, 2), 16, 0.01, 3);
  const auto& s = *m.config.slicegpt;
  EXPECT_EQ(s.embedding_dim, 16);
  EXPECT_EQ(s.layers[0], (SlicedLayer{16, 16, 16}));
  EXPECT_EQ(s.layers[1], (SlicedLayer{16, 32, 32}));  // the model's last sublayer: full width
  EXPECT_EQ(s.layers[2], (SlicedLayer{32, 32, 32}));
  EXPECT_FALSE(m.weights.layers[2].attn || m.weights.layers[2].mlp);
  auto logits = m.forward(random_ids(64, 1, 10, 9));
  EXPECT_TRUE(at::isfinite(logits).all().item<bool>());
  remove_tree(dir);
}

// 16 x 256 C4 calibration tokens; the first 4 WikiText-2 test windows of 1024 tokens.
TEST(SliceGpt, PerplexityDegradesSmoothlyOnTestbed) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  c10::InferenceMode guard;
  auto tok = Tokenizer::from_dir(testbed());
  CalibOptions co;
  co.dataset = "c4";
  co.nsamples = 16;
  co.seqlen = 256;
  co.data_dir = test::shared_dir() / "data";
  auto calib = load_calibration(tok, co, 1024);
  auto wiki = tok.encode(load_dataset("wikitext2", DataDirs::resolve(co.data_dir)).text);
  PerplexityOptions po;
  po.max_windows = 4;
  auto dense = Model::load(testbed(), {"cpu", "f32"});
  const double dense_ppl = perplexity(dense, wiki, po, "wikitext2").ppl;
  std::printf("dense: WikiText-2 PPL %.3f (4 windows of 1024)\n", dense_ppl);
  double prev = 0;
  auto method = make_width_method("slicegpt");
  ASSERT_TRUE(method);
  for (double s : {0.1, 0.2, 0.3}) {
    auto m = Model::load(testbed(), {"cpu", "f32"});
    WidthOptions o;
    o.ratio = s;
    auto r = method->run(m, calib, o);
    const double ppl = perplexity(m, wiki, po, "wikitext2").ppl;
    std::printf("slicegpt --ratio %.1f: d' = %lld, decoder params removed %.2f%%, PPL %.3f, %.1f s\n", s,
                static_cast<long long>(r.details["new_dim"].get<int64_t>()),
                100 * r.details["decoder_params_removed_fraction"].get<double>(), ppl,
                r.details["seconds"].get<double>());
    EXPECT_EQ(r.details["new_dim"].get<int64_t>(), static_cast<int64_t>((1 - s) * 256) / 8 * 8);
    EXPECT_FALSE(r.plan_reapplies);
    EXPECT_TRUE(r.plan.actions.empty());
    EXPECT_TRUE(std::isfinite(ppl));
    EXPECT_GT(ppl, prev) << "ratio " << s;
    EXPECT_LT(ppl, 2 * dense_ppl) << "ratio " << s;  // smooth: no step collapses the model
    prev = ppl;
    // Principal components: the kept ones hold more than their share of the signal's energy.
    const double share = static_cast<double>(r.details["new_dim"].get<int64_t>()) / 256.0;
    for (const auto& p : r.details["pca"])
      if (p["width"].get<int64_t>() < 256) EXPECT_GT(p["energy_kept"].get<double>(), share) << p.dump();
  }
}

TEST(SliceGpt, TargetsAndBadOptions) {
  auto c = ModelConfig::from_json(test::tiny_config_json(), "tiny");  // d = 32
  auto method = make_width_method("slicegpt");
  auto error_of = [&](const WidthOptions& o) {
    try {
      method->validate(c, o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  WidthOptions o;
  o.ratio = 1.5;
  EXPECT_NE(error_of(o).find("--ratio 1.5 must be in (0, 1)"), std::string::npos) << error_of(o);
  o.ratio = 0.0;
  EXPECT_NE(error_of(o).find("must be in (0, 1)"), std::string::npos) << error_of(o);
  o.ratio = 0.8;  // int(0.2 * 32) = 6 -> 0 with --align 8
  EXPECT_NE(error_of(o).find("leaves no hidden dimension"), std::string::npos) << error_of(o);
  o.align = 2;  // 6
  EXPECT_EQ(error_of(o), "no error");
  EXPECT_EQ(slicegpt_dim_for_ratio(c, 0.8, 2), 6);
  EXPECT_EQ(slicegpt_dim_for_ratio(c, 0.25, 8), 24);
  EXPECT_EQ(slicegpt_dim_for_ratio(c, 0.3, 8), 16);  // int(22.4) = 22 -> 16: rounded down, as the reference
  o.align = 64;
  EXPECT_NE(error_of(o).find("--align 64"), std::string::npos) << error_of(o);
  o = WidthOptions{};
  o.ratio = 0.2;
  o.refit = true;
  EXPECT_NE(error_of(o).find("--refit"), std::string::npos) << error_of(o);
  // --params: the widest d' within budget, shortcuts counted.
  o = WidthOptions{};
  o.params = 0.3;
  EXPECT_EQ(error_of(o), "no error");
  int64_t dense = 0;
  for (auto p : count_params(c).per_layer) dense += p;
  const int64_t k = slicegpt_dim_for_params(c, 0.3, 8);
  EXPECT_LE(static_cast<double>(slicegpt_decoder_params(c, k)), 0.7 * static_cast<double>(dense));
  EXPECT_GT(static_cast<double>(slicegpt_decoder_params(c, k + 8)), 0.7 * static_cast<double>(dense));
  o.params = 0.99;
  EXPECT_NE(error_of(o).find("--params 0.99: even a hidden width of 8"), std::string::npos) << error_of(o);
  // Already rotated.
  c.slicegpt = slicegpt_spec(c, 16);
  o.params.reset();
  o.ratio = 0.2;
  EXPECT_NE(error_of(o).find("already SliceGPT-rotated"), std::string::npos) << error_of(o);
}

}  // namespace
}  // namespace lopper
