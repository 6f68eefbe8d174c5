// `lopper info`: what a checkpoint is, from its config (no weights are read): architecture,
// per-layer structure, parameter counts and dtype.
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"

namespace lopper {

// JSON with architecture, num_layers, hidden_size, vocab_size, dtype, params_total,
// params_embeddings and a `layers` list of {index, attention: {num_heads, num_kv_heads} | null,
// mlp: {intermediate_size} | null, params}; a SliceGPT-rotated model adds "slicegpt" {norm_dim,
// embedding_dim, final_dim} and per-layer "residual" [attn_in, mlp_in, mlp_out].
nlohmann::json model_info(const ModelConfig& config);
// Human-readable rendering of model_info().
std::string format_model_info(const nlohmann::json& info);

}  // namespace lopper
