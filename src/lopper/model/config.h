// Model configuration: what config.json says, normalized across the supported Llama-family
// architectures, with per-layer structure as a first-class part of it.
//
// Heterogeneous models (a layer without attention or MLP, or with its own head / kv-head counts or
// FFN width) are stored as a plain HF config.json plus one extra field:
//   "lopper_layers": [ {"attention": {"num_attention_heads": H, "num_key_value_heads": K} | null,
//                       "mlp": {"intermediate_size": F} | null}, ... ]   (one entry per layer)
// A uniform model omits the field, so it is an ordinary Hugging Face checkpoint. See docs/format.md.
//
// A SliceGPT-rotated model (prune/width/slicegpt.h) adds "lopper_slicegpt" (SliceGptSpec below): its
// residual stream is rotated and narrower than hidden_size, and shortcut matrices carry it across
// each sublayer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace lopper {

using json = nlohmann::json;

enum class Arch { Llama, Mistral, Qwen2, Qwen3 };

struct RopeScaling {
  std::string type = "default";  // default | linear | llama3
  double factor = 1.0;
  double low_freq_factor = 1.0;   // llama3
  double high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct LayerSpec {
  bool has_attn = true;
  int num_heads = 0;
  int num_kv_heads = 0;
  bool has_mlp = true;
  int64_t intermediate_size = 0;
  std::optional<int64_t> sliding_window;  // attention sees at most this many past positions
  bool operator==(const LayerSpec&) const = default;
};

// Residual-stream widths of one layer of a SliceGPT-rotated model: entering it (attention's input),
// between attention and MLP, and leaving it. A missing sublayer passes its input width through.
struct SlicedLayer {
  int64_t attn_in = 0, mlp_in = 0, mlp_out = 0;
  bool operator==(const SlicedLayer&) const = default;
};

// "lopper_slicegpt" in config.json. RMSNorms of a rotated model have their weights folded into the
// linears that read them (stored as ones) and divide the sum of squares by norm_dim (the original
// hidden size), not by the sliced width: SliceGPT's RMSN, which keeps the rotation exact.
struct SliceGptSpec {
  int64_t norm_dim = 0;
  int64_t embedding_dim = 0;        // width of embed_tokens' rows
  std::vector<SlicedLayer> layers;  // one per decoder layer
  int64_t final_dim() const { return layers.empty() ? embedding_dim : layers.back().mlp_out; }
  bool operator==(const SliceGptSpec&) const = default;
};

struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  Arch arch = Arch::Llama;
  std::string model_type;    // "llama", "mistral", "qwen2", "qwen3"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // biases on q/k/v projections (Qwen2 always; Llama attention_bias)
  bool o_bias = false;    // bias on o_proj (Llama/Qwen3 attention_bias)
  bool mlp_bias = false;
  bool qk_norm = false;   // Qwen3: RMSNorm over head_dim on q and k before RoPE
  std::string dtype;      // torch_dtype / dtype as written ("bfloat16", "float32", ...)
  std::vector<LayerSpec> layers;
  std::optional<SliceGptSpec> slicegpt;  // set: SliceGPT-rotated (shortcut matrices between sublayers)
  json raw;               // the original config.json, kept so that saving preserves unknown fields

  int num_layers() const { return static_cast<int>(layers.size()); }
  bool is_uniform() const;

  // Parses and validates; `source` names the file in error messages.
  static ModelConfig from_json(const json& j, const std::string& source);
  // The same from config.json's text (InputError for text that is not JSON).
  static ModelConfig parse(std::string_view json_text, const std::string& source);
  static ModelConfig load(const std::filesystem::path& model_dir);       // <dir>/config.json
  static ModelConfig load_file(const std::filesystem::path& config_json);
  // The config.json to write for this (possibly pruned) model.
  json to_json() const;
};

// A SliceGPT-rotated model: its residual stream is not the hidden_size-wide stream other engines,
// exports and structural edits (removing layers or sublayers) assume.
inline bool is_sliced(const ModelConfig& c) { return c.slicegpt.has_value(); }

const char* arch_name(Arch a);
// Lists the architectures lopper can load, for error messages and `--help`.
std::string supported_architectures();

}  // namespace lopper
