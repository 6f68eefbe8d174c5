#include "lopper/export/gguf_export.h"

#include <ATen/ATen.h>

#include <cmath>

#include "lopper/export/gguf_tensor_data.h"
#include "lopper/export/gguf_vocab.h"
#include "lopper/io/gguf_writer.h"
#include "lopper/model/save.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

// The single place that knows GGUF tensor names (llama.cpp's LLM_TENSOR_* for these roles).
const char* gguf_role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Embed: return "token_embd.weight";
    case TensorRole::FinalNorm: return "output_norm.weight";
    case TensorRole::LmHead: return "output.weight";
    case TensorRole::AttnNorm: return "attn_norm.weight";
    case TensorRole::Q: return "attn_q.weight";
    case TensorRole::K: return "attn_k.weight";
    case TensorRole::V: return "attn_v.weight";
    case TensorRole::O: return "attn_output.weight";
    case TensorRole::QBias: return "attn_q.bias";
    case TensorRole::KBias: return "attn_k.bias";
    case TensorRole::VBias: return "attn_v.bias";
    case TensorRole::OBias: return "attn_output.bias";
    case TensorRole::QNorm: return "attn_q_norm.weight";
    case TensorRole::KNorm: return "attn_k_norm.weight";
    case TensorRole::MlpNorm: return "ffn_norm.weight";
    case TensorRole::Gate: return "ffn_gate.weight";
    case TensorRole::Up: return "ffn_up.weight";
    case TensorRole::Down: return "ffn_down.weight";
    case TensorRole::GateBias: return "ffn_gate.bias";
    case TensorRole::UpBias: return "ffn_up.bias";
    case TensorRole::DownBias: return "ffn_down.bias";
    case TensorRole::AttnShortcut: case TensorRole::MlpShortcut: break;  // refused in export_gguf
  }
  return "?";
}

std::string gguf_name(TensorRole r, int out_layer) {
  if (out_layer < 0) return gguf_role_name(r);
  return fmt::format("blk.{}.{}", out_layer, gguf_role_name(r));
}

constexpr int64_t kFillFfn = 32;  // width of the zero FFN given to attention-only deci layers

GgmlType parse_gguf_dtype(const std::string& s, const ModelConfig& c) {
  if (s == "f32") return GgmlType::F32;
  if (s == "f16") return GgmlType::F16;
  if (s == "bf16") return GgmlType::BF16;
  if (s == "q8_0") return GgmlType::Q8_0;
  if (s == "auto") {
    auto t = config_dtype(c.dtype).value_or(at::kHalf);
    return t == at::kFloat ? GgmlType::F32 : t == at::kBFloat16 ? GgmlType::BF16 : GgmlType::F16;
  }
  fail("--dtype {}: llama.cpp GGUF export writes f32, f16, bf16 or q8_0", s);
}

// Rows of a rotate-half (HF) Q or K projection reordered for llama.cpp's interleaved RoPE:
// within each head, row t*D/2 + j moves to 2j + t (llama.cpp's converter's permute()).
at::Tensor interleave_rope_rows(const at::Tensor& w, int64_t heads) {
  auto sizes = w.sizes().vec();
  std::vector<int64_t> split = {heads, 2, sizes[0] / heads / 2};
  split.insert(split.end(), sizes.begin() + 1, sizes.end());
  return w.reshape(split).transpose(1, 2).reshape(sizes).contiguous();
}

// llama3 RoPE scaling as per-frequency divisors (llama.cpp's rope_freqs tensor) [D/2].
at::Tensor llama3_rope_factors(const ModelConfig& c) {
  const RopeScaling& r = c.rope_scaling;
  const int64_t D = c.head_dim;
  std::vector<float> f;
  const double lo_wl = r.original_max_position_embeddings / r.low_freq_factor;
  const double hi_wl = r.original_max_position_embeddings / r.high_freq_factor;
  for (int64_t i = 0; i < D; i += 2) {
    double freq = 1.0 / std::pow(c.rope_theta, static_cast<double>(static_cast<float>(i) / D));
    double wl = 2 * M_PI / freq;
    if (wl < hi_wl) f.push_back(1.0f);
    else if (wl > lo_wl) f.push_back(static_cast<float>(r.factor));
    else {
      double smooth = (r.original_max_position_embeddings / wl - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
      f.push_back(static_cast<float>(1.0 / ((1 - smooth) / r.factor + smooth)));
    }
  }
  return at::tensor(f);
}

bool has_layer_content(const LayerSpec& l) { return l.has_attn || l.has_mlp; }

}  // namespace

nlohmann::json GgufExportReport::to_json() const {
  return {{"architecture", architecture}, {"dtype", dtype}, {"tensors", tensors}, {"bytes", bytes}, {"notes", notes}};
}

std::string gguf_architecture(const ModelConfig& c) {
  // Structurally uniform, ignoring layers that hold nothing (they are dropped).
  const LayerSpec* first = nullptr;
  bool uniform = true;
  for (const auto& l : c.layers) {
    if (!has_layer_content(l)) continue;
    if (!first) first = &l;
    uniform = uniform && l.has_attn && l.has_mlp && l.num_heads == first->num_heads &&
              l.num_kv_heads == first->num_kv_heads && l.intermediate_size == first->intermediate_size;
  }
  if (!first) fail("model has no layer with attention or MLP; nothing llama.cpp can run");
  const bool qwen = c.arch == Arch::Qwen2 || c.arch == Arch::Qwen3;
  if (qwen && c.rope_scaling.type == "llama3")
    fail("rope_scaling llama3 on a {} model: llama.cpp's {} architecture has no RoPE factors", c.model_type, c.model_type);
  if (uniform) return c.arch == Arch::Qwen2 ? "qwen2" : c.arch == Arch::Qwen3 ? "qwen3" : "llama";
  if (c.arch == Arch::Qwen3 || c.qk_norm) {
    for (int i = 0; i < c.num_layers(); ++i)
      if (has_layer_content(c.layers[i]) &&
          (!(c.layers[i] == *first) || !c.layers[i].has_attn || !c.layers[i].has_mlp))
        fail("layer {}: differs from the other layers, which only llama.cpp's deci architecture holds, and deci "
             "has no per-head Q/K norms (Qwen3); a heterogeneous Qwen3 model cannot be exported to GGUF", i);
  }
  for (int i = 0; i < c.num_layers(); ++i) {
    const auto& l = c.layers[i];
    if (l.has_attn && (l.num_kv_heads <= 0 || l.num_heads % l.num_kv_heads != 0))
      fail("layer {}: {} query heads do not divide into {} KV heads (llama.cpp needs whole GQA groups)", i,
           l.num_heads, l.num_kv_heads);
  }
  return "deci";
}

GgufExportReport export_gguf(const Model& model, const std::filesystem::path& out, const GgufExportOptions& opts) {
  const ModelConfig& c = model.config;
  check(!is_sliced(c), "model is SliceGPT-rotated (shortcut matrices between blocks); llama.cpp's GGUF cannot hold "
        "it: evaluate and run it with lopper");
  const GgmlType want = parse_gguf_dtype(opts.dtype, c);
  check_output_path(out, opts.force, "--out");
  GgufExportReport rep;
  rep.architecture = gguf_architecture(c);
  rep.dtype = ggml_type_name(want);
  const std::string A = rep.architecture;
  const bool deci = A == "deci";
  const bool interleave = A == "llama" || A == "deci";  // llama.cpp's "normal" RoPE for these
  const int64_t C = c.hidden_size, D = c.head_dim;

  // Exported layers (layers holding nothing are identities and are dropped).
  std::vector<int> out_index(c.num_layers(), -1);
  std::vector<int> kept;
  for (int i = 0; i < c.num_layers(); ++i)
    if (has_layer_content(c.layers[i])) {
      out_index[i] = static_cast<int>(kept.size());
      kept.push_back(i);
    } else {
      rep.notes.push_back(fmt::format("layer {} has neither attention nor MLP: not written", i));
    }

  GgufWriter w;
  w.add_string("general.architecture", A);
  w.add_string("general.name", model.source_dir.filename().string());
  const uint32_t file_type = want == GgmlType::F32 ? 0 : want == GgmlType::F16 ? 1 : want == GgmlType::Q8_0 ? 7 : 32;
  w.add_u32("general.file_type", file_type);
  w.add_u32("general.quantization_version", 2);
  w.add_u32(A + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.add_u32(A + ".embedding_length", static_cast<uint32_t>(C));
  w.add_u32(A + ".block_count", static_cast<uint32_t>(kept.size()));
  w.add_f32(A + ".attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.add_u32(A + ".attention.key_length", static_cast<uint32_t>(D));
  w.add_u32(A + ".attention.value_length", static_cast<uint32_t>(D));
  w.add_u32(A + ".rope.dimension_count", static_cast<uint32_t>(D));
  w.add_f32(A + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.add_u32(A + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  if (c.rope_scaling.type == "linear") {
    w.add_string(A + ".rope.scaling.type", "linear");
    w.add_f32(A + ".rope.scaling.factor", static_cast<float>(c.rope_scaling.factor));
  }
  std::vector<uint32_t> heads, kv_heads, ffn;
  for (size_t k = 0; k < kept.size(); ++k) {
    const LayerSpec& l = c.layers[kept[k]];
    const bool fill_attn = deci && k == 0 && !l.has_attn;
    heads.push_back(l.has_attn ? l.num_heads : fill_attn ? 1 : 0);
    kv_heads.push_back(l.has_attn ? l.num_kv_heads : fill_attn ? 1 : 0);
    ffn.push_back(static_cast<uint32_t>(l.has_mlp ? l.intermediate_size : kFillFfn));
    if (fill_attn)
      rep.notes.push_back(fmt::format("layer {} has no attention; llama.cpp's deci derives the head size from "
                                      "layer 0, so it gets a one-head attention with zero weights", kept[k]));
    if (!l.has_mlp)
      rep.notes.push_back(fmt::format("layer {} has attention but no MLP; llama.cpp's deci drops the attention "
                                      "output of FFN-free layers, so it gets a {}-wide FFN with zero weights",
                                      kept[k], kFillFfn));
  }
  if (deci) {
    w.add_u32_array(A + ".attention.head_count", heads);
    w.add_u32_array(A + ".attention.head_count_kv", kv_heads);
    w.add_u32_array(A + ".feed_forward_length", ffn);
  } else {
    w.add_u32(A + ".attention.head_count", heads.front());
    w.add_u32(A + ".attention.head_count_kv", kv_heads.front());
    w.add_u32(A + ".feed_forward_length", ffn.front());
  }
  auto vocab = add_gguf_vocab(w, model.source_dir, c.vocab_size);
  rep.notes.push_back(fmt::format("tokenizer: {}{} with {} tokens", vocab.model,
                                  vocab.pre.empty() ? "" : " (pre " + vocab.pre + ")", vocab.tokens));

  // Storage type of one tensor: 1-D ones stay f32 (as the converter keeps norms and biases); q8_0
  // needs rows that are a multiple of its 32-wide blocks.
  bool fell_back = false;
  auto storage = [&](const std::vector<int64_t>& torch_shape) {
    if (torch_shape.size() == 1) return GgmlType::F32;
    if (want == GgmlType::Q8_0 && torch_shape.back() % 32 != 0) {
      fell_back = true;
      return GgmlType::F16;
    }
    return want;
  };
  // Tensors are made (permuted, converted) only when written, one at a time.
  auto add_lazy = [&](const std::string& name, std::vector<int64_t> shape, std::function<at::Tensor()> make) {
    GgmlType type = storage(shape);
    std::vector<int64_t> ne(shape.rbegin(), shape.rend());  // ggml's ne[0] is torch's last dim
    w.add_tensor(name, ne, type, [make = std::move(make), type] { return ggml_bytes(make(), type); });
  };
  auto add = [&](const std::string& name, at::Tensor t) {
    add_lazy(name, t.sizes().vec(), [t] { return t; });
  };

  for_each_tensor(c, [&](const TensorSpec& s) {
    if (s.layer >= 0 && out_index[s.layer] < 0) return;
    const at::Tensor& t = tensor_slot(model.weights, s);
    if (!t.defined() || t.sizes().vec() != s.shape) throw Error(fmt::format("export: tensor {} is missing or misshapen", s.name));
    const int li = s.layer >= 0 ? out_index[s.layer] : -1;
    int64_t groups = 0;  // heads whose rows get the RoPE interleave
    if (interleave && (s.role == TensorRole::Q || s.role == TensorRole::QBias)) groups = c.layers[s.layer].num_heads;
    if (interleave && (s.role == TensorRole::K || s.role == TensorRole::KBias)) groups = c.layers[s.layer].num_kv_heads;
    add_lazy(gguf_name(s.role, li), s.shape, [t, groups] { return groups ? interleave_rope_rows(t, groups) : t; });
  });
  if (c.rope_scaling.type == "llama3") add("rope_freqs.weight", llama3_rope_factors(c));
  // Exact fill-ins for the deci loader's limits (see the header).
  auto opts32 = at::TensorOptions().dtype(at::kFloat);
  for (size_t k = 0; k < kept.size() && deci; ++k) {
    const LayerSpec& l = c.layers[kept[k]];
    const int li = static_cast<int>(k);
    if (k == 0 && !l.has_attn) {
      add(gguf_name(TensorRole::AttnNorm, li), at::ones({C}, opts32));
      for (auto r : {TensorRole::Q, TensorRole::K, TensorRole::V}) add(gguf_name(r, li), at::zeros({D, C}, opts32));
      add(gguf_name(TensorRole::O, li), at::zeros({C, D}, opts32));
    }
    if (!l.has_mlp) {
      add(gguf_name(TensorRole::MlpNorm, li), at::ones({C}, opts32));
      add(gguf_name(TensorRole::Gate, li), at::zeros({kFillFfn, C}, opts32));
      add(gguf_name(TensorRole::Up, li), at::zeros({kFillFfn, C}, opts32));
      add(gguf_name(TensorRole::Down, li), at::zeros({C, kFillFfn}, opts32));
    }
  }
  if (fell_back) rep.notes.push_back("q8_0: matrices whose rows are not a multiple of 32 are stored as f16");

  Progress progress("export gguf", static_cast<int64_t>(w.tensor_count()), "tensors");
  w.write(out, [&] { progress.advance(); });
  progress.finish();
  rep.tensors = static_cast<int64_t>(w.tensor_count());
  std::error_code ec;
  rep.bytes = std::filesystem::file_size(out, ec);
  return rep;
}

}  // namespace lopper
