// A SliceGPT-rotated model as a lopper checkpoint: save / load round trip (logits, shapes, config,
// parameter counts), the config's checks, a corrupt shortcut, KV-cache generation, BlockRunner, `info`,
// and refusals (GGUF, DeciLM, removing layers or sublayers). A plain model is unaffected.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include "lopper/calib/block_runner.h"
#include "lopper/eval/generate.h"
#include "lopper/eval/perplexity.h"
#include "lopper/export/decilm.h"
#include "lopper/export/gguf_export.h"
#include "lopper/io/safetensors.h"
#include "lopper/model/info.h"
#include "lopper/model/model.h"
#include "lopper/model/save.h"
#include "lopper/prune/surgery.h"
#include "lopper/prune/width/slicegpt.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

at::Tensor ids_of(int64_t n, int64_t t, uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(0, 64, {n, t}, at::kLong);  // [n, t]
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    return msg;
  }
  return "no error";
}

// A tiny Llama with biases (o_proj / down_proj biases get rotated) sliced from 32 to 16.
class SlicedModel : public ::testing::Test {
 protected:
  void SetUp() override {
    Progress::set_enabled(false);
    dir_ = test::temp_dir("sliced");
    auto cfg = test::tiny_config_json();
    cfg["attention_bias"] = true;
    cfg["mlp_bias"] = true;
    test::write_tiny_model(dir_ / "dense", cfg, 11);
    m_ = Model::load(dir_ / "dense", {"cpu", "f32"});
    c10::InferenceMode guard;
    slicegpt_rotate(m_, ids_of(8, 16, 1), 16, 0.01, 4);
  }
  void TearDown() override { remove_tree(dir_); }
  std::filesystem::path dir_;
  Model m_;
};

TEST_F(SlicedModel, SaveLoadRoundTrip) {
  c10::InferenceMode guard;
  save_model(m_, dir_ / "out");
  auto back = Model::load(dir_ / "out", {"cpu", "f32"});
  ASSERT_TRUE(back.config.slicegpt);
  EXPECT_EQ(*back.config.slicegpt, *m_.config.slicegpt);
  EXPECT_EQ(back.config.to_json(), m_.config.to_json());
  EXPECT_FALSE(back.config.tie_word_embeddings);
  for_each_tensor(m_.config, [&](const TensorSpec& s) {
    EXPECT_TRUE(tensor_slot(m_.weights, s).equal(tensor_slot(back.weights, s))) << s.name;
  });
  auto ids = ids_of(2, 12, 5);
  const double diff = (back.forward(ids) - m_.forward(ids)).abs().max().item<double>();
  EXPECT_EQ(diff, 0.0);
  // The stored tensors are exactly what count_params counts, shortcuts included.
  auto file = SafetensorsFile::open(dir_ / "out/model.safetensors");
  int64_t stored = 0, shortcuts = 0;
  for (const auto& e : file->entries()) {
    int64_t n = 1;
    for (auto d : e.shape) n *= d;
    stored += n;
    if (e.name.ends_with("shortcut_Q")) shortcuts += n;
  }
  EXPECT_EQ(count_params(back.config).total, stored);
  EXPECT_EQ(shortcuts, 2 * (16 * 16 + 16 * 16) + 16 * 16 + 16 * 32);  // the last MLP writes the full 32
  const auto shape = file->find("model.layers.2.mlp_shortcut_Q")->shape;
  EXPECT_EQ(shape, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(file->find("model.layers.0.self_attn.q_proj.weight")->shape, (std::vector<int64_t>{32, 16}));
  EXPECT_EQ(file->find("lm_head.weight")->shape, (std::vector<int64_t>{64, 32}));
  auto cfg = nlohmann::json::parse(read_file(dir_ / "out/config.json"));
  EXPECT_EQ(cfg["lopper_slicegpt"]["norm_dim"], 32);
  EXPECT_EQ(cfg["lopper_slicegpt"]["layers"][2]["mlp_out"], 32);
  auto info = format_model_info(model_info(back.config));
  EXPECT_NE(info.find("slicegpt"), std::string::npos) << info;
  EXPECT_NE(info.find("16/16/32"), std::string::npos) << info;
}

TEST_F(SlicedModel, CorruptShortcutNamesTheTensor) {
  c10::InferenceMode guard;
  save_model(m_, dir_ / "bad");
  auto file = SafetensorsFile::open(dir_ / "bad/model.safetensors");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : file->entries()) {
    auto t = file->tensor(e.name).clone();
    if (e.name == "model.layers.1.attn_shortcut_Q") t = t.narrow(1, 0, 8).contiguous();  // [16, 8]
    tensors.emplace_back(e.name, t);
  }
  file.reset();
  write_safetensors(dir_ / "bad/model.safetensors", tensors);
  auto msg = error_of([&] { Model::load(dir_ / "bad"); });
  EXPECT_NE(msg.find("\"model.layers.1.attn_shortcut_Q\" has shape [16, 8] but config.json implies [16, 16]"),
            std::string::npos) << msg;
}

TEST_F(SlicedModel, ConfigChecks) {
  auto j = m_.config.to_json();
  j["lopper_slicegpt"]["layers"][1]["attn_in"] = 24;
  auto msg = error_of([&] { ModelConfig::from_json(j, "cfg"); });
  EXPECT_NE(msg.find("lopper_slicegpt.layers[1]: attn_in 24 must equal the previous output width 16"), std::string::npos)
      << msg;
  j = m_.config.to_json();
  j["lopper_slicegpt"]["embedding_dim"] = 40;
  msg = error_of([&] { ModelConfig::from_json(j, "cfg"); });
  EXPECT_NE(msg.find("embedding_dim must be in [1, norm_dim = 32], got 40"), std::string::npos) << msg;
  j = m_.config.to_json();
  j["tie_word_embeddings"] = true;
  msg = error_of([&] { ModelConfig::from_json(j, "cfg"); });
  EXPECT_NE(msg.find("untied embeddings"), std::string::npos) << msg;
}

TEST_F(SlicedModel, ExportsAndStructuralEditsRefuse) {
  auto msg = error_of([&] { export_gguf(m_, dir_ / "m.gguf"); });
  EXPECT_NE(msg.find("model is SliceGPT-rotated (shortcut matrices between blocks); llama.cpp's GGUF cannot hold it"),
            std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "m.gguf"));
  msg = error_of([&] { export_decilm(m_, dir_ / "deci"); });
  EXPECT_NE(msg.find("SliceGPT-rotated"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "deci"));
  msg = error_of([&] { remove_layers(m_, {1}); });
  EXPECT_NE(msg.find("cannot remove layers: the model is SliceGPT-rotated"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { remove_attention(m_, 0); }).find("SliceGPT-rotated"), std::string::npos);
  EXPECT_NE(error_of([&] { remove_mlp(m_, 0); }).find("SliceGPT-rotated"), std::string::npos);
  EXPECT_EQ(m_.config.num_layers(), 3);
  EXPECT_TRUE(m_.weights.layers[0].attn && m_.weights.layers[0].mlp);
}

TEST_F(SlicedModel, KvCacheGenerationEqualsRecomputation) {
  c10::InferenceMode guard;
  GenerateOptions o;
  o.max_new_tokens = 12;
  o.greedy = true;
  o.stop_at_eos = false;
  const std::vector<int64_t> prompt = {3, 17, 42, 5, 9};
  auto cached = generate(m_, prompt, o);
  o.use_cache = false;
  EXPECT_EQ(cached, generate(m_, prompt, o));
  // Step-by-step logits through the cache equal one full pass.
  auto ids = ids_of(1, 10, 8);
  auto full = m_.forward(ids);  // [1, 10, V]
  KVCache cache(m_.config.num_layers());
  ForwardContext ctx;
  ctx.cache = &cache;
  m_.forward(ids.narrow(1, 0, 6), ctx);
  for (int64_t t = 6; t < 10; ++t) {
    auto step = m_.forward(ids.narrow(1, t, 1), ctx);  // [1, 1, V]
    EXPECT_LT((step[0][0] - full[0][t]).abs().max().item<double>(), 1e-5) << t;
  }
}

TEST_F(SlicedModel, BlockRunnerMatchesForward) {
  c10::InferenceMode guard;
  auto ids = ids_of(3, 12, 4);
  BlockRunner runner(m_, ids, 2);
  EXPECT_EQ(runner.hidden().size(2), 16);
  while (runner.next_layer() < m_.config.num_layers()) runner.advance();
  EXPECT_EQ(runner.hidden().size(2), 32);  // the last layer writes the full width
  const double loss = runner.loss_from(m_.config.num_layers(), runner.hidden());
  const double ref = next_token_nll_sum(m_.forward(ids), ids, 1).sum().item<double>() / (3.0 * 11.0);
  EXPECT_NEAR(loss, ref, 1e-5);
}

TEST(SlicedFormat, PlainModelConfigUnchanged) {
  c10::InferenceMode guard;
  auto dir = test::temp_dir("plain");
  auto cfg = test::tiny_config_json();
  cfg["tie_word_embeddings"] = true;
  test::write_tiny_model(dir / "in", cfg);
  auto m = Model::load(dir / "in");
  EXPECT_FALSE(is_sliced(m.config));
  save_model(m, dir / "out");
  auto expected = cfg;  // what save_model always adds: the normalized model_type and head_dim
  expected["model_type"] = "llama";
  expected["head_dim"] = 8;
  EXPECT_EQ(nlohmann::json::parse(read_file(dir / "out/config.json")), expected);
  auto file = SafetensorsFile::open(dir / "out/model.safetensors");
  for (const auto& e : file->entries()) EXPECT_EQ(e.name.find("shortcut"), std::string::npos) << e.name;
  EXPECT_EQ(file->find("lm_head.weight"), nullptr);  // still tied
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
