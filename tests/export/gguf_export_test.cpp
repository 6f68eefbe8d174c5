// GGUF writer layout, tensor encodings, the exporter's metadata and tensors, the exactness of the
// fill-ins for llama.cpp's deci limits, and refusals. No engine needed (see gguf_engine_test.cpp).
#include <ATen/ATen.h>

#include "export/gguf_read.h"
#include "lopper/export/gguf_export.h"
#include "lopper/export/gguf_tensor_data.h"
#include "lopper/io/gguf_writer.h"
#include "lopper/prune/plan.h"
#include "lopper/util/error.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

namespace fs = std::filesystem;

fs::path testbed() { return test::shared_dir() / "models/testbed-15m"; }

TEST(GgufWriter, LayoutReadsBack) {
  auto dir = test::temp_dir("gguf-writer");
  GgufWriter w;
  w.add_u32("a.u32", 7);
  w.add_f32("a.f32", 1.5f);
  w.add_bool("a.bool", true);
  w.add_string("a.str", "héllo");
  w.add_u32_array("a.arr", {1, 2, 3});
  w.add_string_array("a.strs", {"x", "", "yz"});
  at::Tensor m = at::arange(15, at::kFloat).reshape({3, 5});  // torch [3, 5] -> ggml ne {5, 3}
  at::Tensor q = at::randn({2, 64});
  w.add_tensor("m", {5, 3}, GgmlType::F32, [&] { return ggml_bytes(m, GgmlType::F32); });
  w.add_tensor("q", {64, 2}, GgmlType::Q8_0, [&] { return ggml_bytes(q, GgmlType::Q8_0); });
  EXPECT_THROW(w.add_u32("a.u32", 1), Error);
  EXPECT_THROW(w.add_tensor("bad", {33, 2}, GgmlType::Q8_0, [] { return std::string(); }), Error);
  w.write(dir / "t.gguf");

  auto f = test::read_gguf((dir / "t.gguf").string());
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.kv["a.u32"], 7);
  EXPECT_EQ(f.kv_type["a.u32"], 4u);
  EXPECT_EQ(f.kv["a.f32"], 1.5);
  EXPECT_EQ(f.kv["a.bool"], true);
  EXPECT_EQ(f.kv["a.str"], "héllo");
  EXPECT_EQ(f.kv["a.arr"], nlohmann::json({1, 2, 3}));
  EXPECT_EQ(f.kv["a.strs"], nlohmann::json({"x", "", "yz"}));
  ASSERT_EQ(f.tensor_order, (std::vector<std::string>{"m", "q"}));
  EXPECT_EQ(f.tensors["m"].ne, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(f.tensors["q"].type, 8u);
  EXPECT_EQ(f.data_start % 32, 0u);
  for (auto& [n, t] : f.tensors) EXPECT_EQ(t.offset % 32, 0u) << n;
  // m's bytes are its row-major floats; q's 2 rows x 2 blocks x 34 bytes; the file ends padded.
  float m7;
  std::memcpy(&m7, f.bytes.data() + f.data_start + f.tensors["m"].offset + 7 * 4, 4);
  EXPECT_EQ(m7, 7.0f);
  EXPECT_EQ(f.bytes.substr(f.data_start + f.tensors["q"].offset, 136), ggml_bytes(q, GgmlType::Q8_0));
  EXPECT_EQ(f.bytes.size(), f.data_start + f.tensors["q"].offset + 160);
  remove_tree(dir);
}

TEST(GgufTensorData, Q8_0BlocksAsGgml) {
  at::manual_seed(3);
  at::Tensor x = at::randn({4, 64}) * 3;
  x[1].zero_();  // an all-zero row: scale 0, values 0
  auto bytes = ggml_bytes(x, GgmlType::Q8_0);
  ASSERT_EQ(bytes.size(), 4u * 2 * 34);
  at::Tensor back = ggml_round_trip(x, GgmlType::Q8_0);
  auto blocks = x.reshape({-1, 32});
  auto amax = blocks.abs().amax(1, true);            // [8, 1]
  auto d = (amax / 127).to(at::kHalf).to(at::kFloat);  // the stored f16 scale
  auto err = (back.reshape({-1, 32}) - blocks).abs();
  // Rounding to the nearest step of d (plus the scale's own f16 rounding times 127).
  EXPECT_TRUE((err <= d * 0.5 + (amax / 127 - d).abs() * 127 + 1e-6).all().item<bool>());
  EXPECT_EQ(back[1].abs().max().item<float>(), 0.0f);
  // The largest magnitude of each non-zero block is stored as +-127.
  for (int b = 0; b < 8; ++b) {
    if (b / 2 == 1) continue;
    int64_t j = blocks[b].abs().argmax().item<int64_t>();
    int8_t qv = static_cast<int8_t>(bytes[b * 34 + 2 + j]);
    EXPECT_EQ(std::abs(qv), 127) << b;
  }
  // f16 / bf16 are torch's round-to-nearest-even conversions.
  EXPECT_TRUE(at::equal(ggml_round_trip(x, GgmlType::F16), x.to(at::kHalf).to(at::kFloat)));
  EXPECT_EQ(ggml_bytes(x, GgmlType::BF16).size(), 4u * 64 * 2);
}

// The fill-ins written for llama.cpp's deci limits change nothing: a one-head attention with zero
// projections and a 32-wide FFN with zero weights add exactly 0 to the residual stream.
TEST(GgufExport, ZeroFillInsAreExact) {
  LOPPER_REQUIRE_SHARED();
  auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
  auto j = PruningPlan::for_model(m, "test").to_json();
  j["actions"] = {{{"op", "remove_attention"}, {"layer", 0}}, {{"op", "remove_mlp"}, {"layer", 5}}};
  PruningPlan::from_json(j, "plan").apply(m);
  Model filled = m;
  const int64_t C = m.config.hidden_size, D = m.config.head_dim;
  auto& a0 = filled.config.layers[0];
  a0.has_attn = true;
  a0.num_heads = a0.num_kv_heads = 1;
  AttentionWeights aw;
  aw.norm = at::ones({C});
  aw.q = at::zeros({D, C});
  aw.k = at::zeros({D, C});
  aw.v = at::zeros({D, C});
  aw.o = at::zeros({C, D});
  filled.weights.layers[0].attn = aw;
  auto& l5 = filled.config.layers[5];
  l5.has_mlp = true;
  l5.intermediate_size = 32;
  MlpWeights mw;
  mw.norm = at::ones({C});
  mw.gate = at::zeros({32, C});
  mw.up = at::zeros({32, C});
  mw.down = at::zeros({C, 32});
  filled.weights.layers[5].mlp = mw;
  at::Tensor ids = at::randint(0, 8000, {2, 48}, at::kLong);
  at::NoGradGuard ng;
  EXPECT_EQ((m.forward(ids) - filled.forward(ids)).abs().max().item<float>(), 0.0f);
}

TEST(GgufExport, DeciMetadataAndTensors) {
  LOPPER_REQUIRE_SHARED();
  auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
  auto j = PruningPlan::for_model(m, "test").to_json();
  std::vector<int64_t> keep(300);
  for (int i = 0; i < 300; ++i) keep[i] = 2 * i;
  j["actions"] = {{{"op", "remove_attention"}, {"layer", 0}},
                  {{"op", "remove_mlp"}, {"layer", 2}},
                  {{"op", "keep_mlp_channels"}, {"layer", 3}, {"channels", keep}},
                  {{"op", "keep_kv_groups"}, {"layer", 4}, {"groups", {0}}},
                  {{"op", "remove_layers"}, {"layers", {13}}}};
  PruningPlan::from_json(j, "plan").apply(m);
  auto dir = test::temp_dir("gguf-deci");
  auto rep = export_gguf(m, dir / "m.gguf", GgufExportOptions{"q8_0", false});
  EXPECT_EQ(rep.architecture, "deci");
  auto f = test::read_gguf((dir / "m.gguf").string());
  EXPECT_EQ(f.kv["general.architecture"], "deci");
  EXPECT_EQ(f.kv["general.file_type"], 7);
  EXPECT_EQ(f.kv["deci.block_count"], 13);
  auto heads = f.kv["deci.attention.head_count"], kv = f.kv["deci.attention.head_count_kv"];
  auto ffn = f.kv["deci.feed_forward_length"];
  EXPECT_EQ(heads[0], 1);  // fill-in attention
  EXPECT_EQ(kv[0], 1);
  EXPECT_EQ(heads[1], 4);
  EXPECT_EQ(kv[4], 1);
  EXPECT_EQ(kv[5], 2);
  EXPECT_EQ(ffn[2], 32);   // fill-in FFN
  EXPECT_EQ(ffn[3], 300);
  EXPECT_EQ(ffn[5], 768);
  EXPECT_EQ(f.kv["deci.attention.key_length"], 64);
  EXPECT_EQ(f.kv["tokenizer.ggml.model"], "gpt2");
  EXPECT_EQ(f.kv["tokenizer.ggml.pre"], "llama-bpe");
  EXPECT_EQ(f.kv["tokenizer.ggml.tokens"].size(), 8192u);
  EXPECT_EQ(f.kv["tokenizer.ggml.bos_token_id"], 8190);
  EXPECT_EQ(f.kv["tokenizer.ggml.add_bos_token"], true);
  EXPECT_EQ(f.tensors.count("blk.13.attn_q.weight"), 0u);
  EXPECT_EQ(f.tensors["blk.0.attn_q.weight"].ne, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(f.tensors["blk.2.ffn_down.weight"].ne, (std::vector<int64_t>{32, 256}));
  EXPECT_EQ(f.tensors["blk.4.attn_k.weight"].ne, (std::vector<int64_t>{256, 64}));
  EXPECT_EQ(f.tensors["blk.1.attn_q.weight"].type, 8u);   // q8_0
  EXPECT_EQ(f.tensors["blk.3.ffn_down.weight"].type, 1u);  // rows of 300: f16 fallback
  EXPECT_EQ(f.tensors["blk.1.attn_norm.weight"].type, 0u);  // norms stay f32
  EXPECT_EQ(f.tensors.count("output.weight"), 1u);          // untied
  // Exported layer k is input layer k (only the last one was removed).
  EXPECT_EQ(f.tensors.size(), static_cast<size_t>(rep.tensors));
  remove_tree(dir);
}

TEST(GgufExport, Refusals) {
  LOPPER_REQUIRE_SHARED();
  // A heterogeneous Qwen3 model: deci has no Q/K norms.
  auto cj = test::tiny_config_json("Qwen3ForCausalLM");
  cj["head_dim"] = 8;
  auto c = ModelConfig::from_json(cj, "qwen3");
  c.layers[1].intermediate_size = 24;
  try {
    gguf_architecture(c);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Q/K norm"), std::string::npos) << e.what();
  }
  auto c2 = ModelConfig::from_json(test::tiny_config_json("Qwen2ForCausalLM"), "qwen2");
  EXPECT_EQ(gguf_architecture(c2), "qwen2");
  c2.layers[2].has_attn = false;
  EXPECT_EQ(gguf_architecture(c2), "deci");

  auto m = Model::load(testbed(), LoadOptions{"cpu", "f32"});
  auto dir = test::temp_dir("gguf-refuse");
  EXPECT_THROW(export_gguf(m, dir / "x.gguf", GgufExportOptions{"q4_k", false}), InputError);
  EXPECT_FALSE(fs::exists(dir / "x.gguf"));
  write_file_atomic(dir / "keep.gguf", "user data");
  EXPECT_THROW(export_gguf(m, dir / "keep.gguf", GgufExportOptions{"f16", false}), InputError);
  EXPECT_EQ(read_file(dir / "keep.gguf"), "user data");
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
