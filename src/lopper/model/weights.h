// Model weights and the one tensor visitor. Every place that needs the list of a model's tensors
// (loading, saving, surgery, export, parameter counts) asks for_each_tensor(), which derives the
// list from the config; the Hugging Face name of each tensor is made in exactly one function,
// tensor_name().
#pragma once
#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lopper/model/config.h"

namespace lopper {

enum class TensorRole {
  Embed, FinalNorm, LmHead,
  AttnNorm, Q, K, V, O, QBias, KBias, VBias, OBias, QNorm, KNorm,
  MlpNorm, Gate, Up, Down, GateBias, UpBias, DownBias,
  AttnShortcut, MlpShortcut,  // SliceGPT: residual rotations across a sublayer (x @ Q), [in, out]
};

// Whether the role is a Linear weight [out, in] (the matrices pruning methods work on).
bool is_linear_weight(TensorRole r);

struct AttentionWeights {
  at::Tensor norm;           // input_layernorm            [C]
  at::Tensor q, k, v, o;     // [H*D, C], [KV*D, C], [KV*D, C], [C, H*D]
  at::Tensor q_bias, k_bias, v_bias, o_bias;  // undefined when the config has none
  at::Tensor q_norm, k_norm;  // Qwen3 per-head RMSNorm [D]
  at::Tensor shortcut;        // SliceGPT attn_shortcut_Q [C_in, C_mid]; undefined: identity
};

struct MlpWeights {
  at::Tensor norm;               // post_attention_layernorm [C]
  at::Tensor gate, up, down;     // [F, C], [F, C], [C, F]
  at::Tensor gate_bias, up_bias, down_bias;
  at::Tensor shortcut;           // SliceGPT mlp_shortcut_Q [C_mid, C_out]; undefined: identity
};

struct LayerWeights {
  std::optional<AttentionWeights> attn;
  std::optional<MlpWeights> mlp;
};

struct ModelWeights {
  at::Tensor embed;       // [V, C]
  at::Tensor final_norm;  // [C]
  at::Tensor lm_head;     // [V, C]; aliases embed when tie_word_embeddings
  std::vector<LayerWeights> layers;
};

struct TensorSpec {
  std::string name;  // Hugging Face name, e.g. "model.layers.3.self_attn.q_proj.weight"
  TensorRole role;
  int layer = -1;    // -1 for embeddings, final norm and lm_head
  std::vector<int64_t> shape;
};

// Hugging Face tensor name of a role (layer ignored for global tensors).
std::string tensor_name(TensorRole role, int layer);

// Lists every tensor a model with this config stores, in checkpoint order. A tied lm_head is not
// listed (it is not stored).
void for_each_tensor(const ModelConfig& config, const std::function<void(const TensorSpec&)>& fn);

// The storage slot of a spec in `w` (which must have the structure of the config the spec came from).
at::Tensor& tensor_slot(ModelWeights& w, const TensorSpec& spec);
const at::Tensor& tensor_slot(const ModelWeights& w, const TensorSpec& spec);
// The slot of a per-layer role in one layer (nullptr when the layer lacks that sublayer), and every
// defined tensor of one layer in role order: what a copy of a layer must carry (layer streaming).
at::Tensor* layer_slot(LayerWeights& l, TensorRole role);
void for_each_layer_tensor(LayerWeights& l, const std::function<void(TensorRole, at::Tensor&)>& fn);

// Empty weights with the per-layer structure (optional parts engaged) of `config`.
ModelWeights make_structure(const ModelConfig& config);

struct ParamCounts {
  int64_t total = 0;       // every stored parameter (tied embeddings counted once)
  int64_t embeddings = 0;  // embed_tokens + untied lm_head
  std::vector<int64_t> per_layer;
};
ParamCounts count_params(const ModelConfig& config);

}  // namespace lopper
