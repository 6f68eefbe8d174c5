// Export as a DeciLM / nemotron-nas checkpoint (`--to decilm`): the format of NVIDIA's
// Llama-Nemotron NAS models, which vLLM serves natively (DeciLMForCausalLM), so a heterogeneous
// pruned model (layers without attention or FFN, per-layer FFN widths and kv-head counts) runs there
// without lopper.
//
// The checkpoint is what save_model writes (same tensor names: a layer without attention stores
// neither input_layernorm nor self_attn.*, without FFN neither post_attention_layernorm nor mlp.*,
// exactly the tensors vLLM's nemotron-nas model has), with a nemotron-nas config.json and
// configuration_decilm.py, the config class its auto_map names (transformers knows no
// "nemotron-nas" model type; load with --trust-remote-code / trust_remote_code=True).
//
// What vLLM's loader (vllm/model_executor/models/nemotron_nas.py) can express, and so what is checked:
//   * one global query-head count: every attention has num_attention_heads heads and
//     num_attention_heads / n_heads_in_group kv heads;
//   * FFN width find_multiple(int(2 * ffn_mult * hidden / 3), 256): widths must be multiples of 256;
//   * layer 0 keeps its attention (the first layer's residual starts there);
//   * Llama layers: no biases, no Q/K norms, no sliding window, SiLU.
// Anything else is refused with the layer and the rule.
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "lopper/model/config.h"
#include "lopper/model/model.h"
#include "lopper/model/save.h"

namespace lopper {

// The nemotron-nas config.json for a (possibly heterogeneous) model; throws InputError naming the
// layer and the rule it breaks.
nlohmann::json decilm_config(const ModelConfig& config);

// save_model() with decilm_config() and configuration_decilm.py.
void export_decilm(const Model& model, const std::filesystem::path& out_dir, const SaveOptions& opts = {});

}  // namespace lopper
