// DeciLM checkpoints (architectures ["DeciLMForCausalLM"]): NVIDIA's nemotron-nas models
// (Llama-3.x-Nemotron 51B/49B/253B, and lopper's own `--to decilm` exports) and Deci's DeciLM-7B.
// Their layers are Llama layers with a per-layer structure, so lopper loads them as Arch::Llama:
// the config is rewritten into lopper's own form (LlamaForCausalLM + lopper_layers, see config.h)
// and parsed as that. A model loaded this way is saved by `lopper prune --out` as a lopper
// checkpoint; `--to decilm` (export/decilm.h) writes nemotron-nas again.
//
// nemotron-nas, as vLLM reads it (vllm/model_executor/models/nemotron_nas.py), one entry per layer:
//   "block_configs": [{"attention": {"no_op": bool, "replace_with_linear": bool,
//                                    "n_heads_in_group": g | null},
//                      "ffn": {"no_op": bool, "replace_with_linear": bool, "ffn_mult": m | null}}]
// A layer's attention has num_attention_heads query heads (one global count) and
// num_attention_heads / g kv heads; its FFN width is find_multiple(int(2 * m * hidden / 3), 256).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace lopper {

// Whether a config.json describes a DeciLM model: architectures[0] is "DeciLMForCausalLM", or,
// without "architectures", model_type is "nemotron-nas" or "deci".
bool is_decilm_config(const nlohmann::json& j);

// The equivalent lopper config.json (Llama + lopper_layers; block_configs, auto_map and the
// per-layer kv list dropped). Throws InputError / UnsupportedError naming `source`, the layer and the
// field for a malformed config or for what lopper cannot run (replace_with_linear, MoE, sliding or
// sink attention, a non-SiLU FFN).
nlohmann::json decilm_to_lopper_json(const nlohmann::json& j, const std::string& source);

// nemotron-nas's FFN width for ffn_mult: find_multiple(int(2 * ffn_mult * hidden / 3), 256),
// evaluated in double precision left to right as Python does, truncated toward zero.
int64_t decilm_ffn_width(double ffn_mult, int64_t hidden_size);

// An ffn_mult for which decilm_ffn_width() gives back `width` exactly: 3 * width / (2 * hidden)
// rounded to 6 decimals (NVIDIA's config code rounds ffn_mult so), checked with the formula.
// `width` must be a positive multiple of 256 (throws InputError otherwise).
double decilm_ffn_mult(int64_t width, int64_t hidden_size);

}  // namespace lopper
