#include "lopper/model/weights.h"

#include <fmt/format.h>

#include "lopper/util/error.h"

namespace lopper {

namespace {

// The single place that knows Hugging Face tensor names.
const char* role_suffix(TensorRole r) {
  switch (r) {
    case TensorRole::Embed: return "model.embed_tokens.weight";
    case TensorRole::FinalNorm: return "model.norm.weight";
    case TensorRole::LmHead: return "lm_head.weight";
    case TensorRole::AttnNorm: return "input_layernorm.weight";
    case TensorRole::Q: return "self_attn.q_proj.weight";
    case TensorRole::K: return "self_attn.k_proj.weight";
    case TensorRole::V: return "self_attn.v_proj.weight";
    case TensorRole::O: return "self_attn.o_proj.weight";
    case TensorRole::QBias: return "self_attn.q_proj.bias";
    case TensorRole::KBias: return "self_attn.k_proj.bias";
    case TensorRole::VBias: return "self_attn.v_proj.bias";
    case TensorRole::OBias: return "self_attn.o_proj.bias";
    case TensorRole::QNorm: return "self_attn.q_norm.weight";
    case TensorRole::KNorm: return "self_attn.k_norm.weight";
    case TensorRole::MlpNorm: return "post_attention_layernorm.weight";
    case TensorRole::Gate: return "mlp.gate_proj.weight";
    case TensorRole::Up: return "mlp.up_proj.weight";
    case TensorRole::Down: return "mlp.down_proj.weight";
    case TensorRole::GateBias: return "mlp.gate_proj.bias";
    case TensorRole::UpBias: return "mlp.up_proj.bias";
    case TensorRole::DownBias: return "mlp.down_proj.bias";
    case TensorRole::AttnShortcut: return "attn_shortcut_Q";  // SliceGPT's names
    case TensorRole::MlpShortcut: return "mlp_shortcut_Q";
  }
  return "?";
}

bool is_global(TensorRole r) {
  return r == TensorRole::Embed || r == TensorRole::FinalNorm || r == TensorRole::LmHead;
}

}  // namespace

bool is_linear_weight(TensorRole r) {
  switch (r) {
    case TensorRole::Q: case TensorRole::K: case TensorRole::V: case TensorRole::O:
    case TensorRole::Gate: case TensorRole::Up: case TensorRole::Down:
      return true;
    default:
      return false;
  }
}

std::string tensor_name(TensorRole role, int layer) {
  if (is_global(role)) return role_suffix(role);
  return fmt::format("model.layers.{}.{}", layer, role_suffix(role));
}

void for_each_tensor(const ModelConfig& c, const std::function<void(const TensorSpec&)>& fn) {
  auto emit = [&](TensorRole r, int layer, std::vector<int64_t> shape) {
    fn(TensorSpec{tensor_name(r, layer), r, is_global(r) ? -1 : layer, std::move(shape)});
  };
  const int64_t C = c.hidden_size, D = c.head_dim;
  // Residual widths: all C, except in a SliceGPT-rotated model (in: entering a sublayer, out: leaving it).
  const SliceGptSpec* sg = c.slicegpt ? &*c.slicegpt : nullptr;
  emit(TensorRole::Embed, -1, {c.vocab_size, sg ? sg->embedding_dim : C});
  for (int i = 0; i < c.num_layers(); ++i) {
    const LayerSpec& l = c.layers[i];
    const SlicedLayer w = sg ? sg->layers.at(i) : SlicedLayer{C, C, C};
    if (l.has_attn) {
      const int64_t q = l.num_heads * D, kv = l.num_kv_heads * D;
      emit(TensorRole::AttnNorm, i, {w.attn_in});
      emit(TensorRole::Q, i, {q, w.attn_in});
      emit(TensorRole::K, i, {kv, w.attn_in});
      emit(TensorRole::V, i, {kv, w.attn_in});
      emit(TensorRole::O, i, {w.mlp_in, q});
      if (c.qkv_bias) {
        emit(TensorRole::QBias, i, {q});
        emit(TensorRole::KBias, i, {kv});
        emit(TensorRole::VBias, i, {kv});
      }
      if (c.o_bias) emit(TensorRole::OBias, i, {w.mlp_in});
      if (c.qk_norm) {
        emit(TensorRole::QNorm, i, {D});
        emit(TensorRole::KNorm, i, {D});
      }
      if (sg) emit(TensorRole::AttnShortcut, i, {w.attn_in, w.mlp_in});
    }
    if (l.has_mlp) {
      const int64_t F = l.intermediate_size;
      emit(TensorRole::MlpNorm, i, {w.mlp_in});
      emit(TensorRole::Gate, i, {F, w.mlp_in});
      emit(TensorRole::Up, i, {F, w.mlp_in});
      emit(TensorRole::Down, i, {w.mlp_out, F});
      if (c.mlp_bias) {
        emit(TensorRole::GateBias, i, {F});
        emit(TensorRole::UpBias, i, {F});
        emit(TensorRole::DownBias, i, {w.mlp_out});
      }
      if (sg) emit(TensorRole::MlpShortcut, i, {w.mlp_in, w.mlp_out});
    }
  }
  const int64_t final_dim = sg ? sg->final_dim() : C;
  emit(TensorRole::FinalNorm, -1, {final_dim});
  if (!c.tie_word_embeddings) emit(TensorRole::LmHead, -1, {c.vocab_size, final_dim});
}

at::Tensor& tensor_slot(ModelWeights& w, const TensorSpec& s) {
  switch (s.role) {
    case TensorRole::Embed: return w.embed;
    case TensorRole::FinalNorm: return w.final_norm;
    case TensorRole::LmHead: return w.lm_head;
    default: break;
  }
  if (s.layer < 0 || s.layer >= static_cast<int>(w.layers.size()))
    throw Error(fmt::format("tensor {}: layer {} out of range", s.name, s.layer));
  LayerWeights& l = w.layers[s.layer];
  if (at::Tensor* t = layer_slot(l, s.role)) return *t;
  const bool attn_role = s.role <= TensorRole::KNorm || s.role == TensorRole::AttnShortcut;
  throw Error(fmt::format("tensor {}: layer {} has no {}", s.name, s.layer, attn_role ? "attention" : "MLP"));
}

at::Tensor* layer_slot(LayerWeights& l, TensorRole role) {
  if (l.attn) {
    AttentionWeights& a = *l.attn;
    switch (role) {
      case TensorRole::AttnNorm: return &a.norm;
      case TensorRole::Q: return &a.q;
      case TensorRole::K: return &a.k;
      case TensorRole::V: return &a.v;
      case TensorRole::O: return &a.o;
      case TensorRole::QBias: return &a.q_bias;
      case TensorRole::KBias: return &a.k_bias;
      case TensorRole::VBias: return &a.v_bias;
      case TensorRole::OBias: return &a.o_bias;
      case TensorRole::QNorm: return &a.q_norm;
      case TensorRole::KNorm: return &a.k_norm;
      case TensorRole::AttnShortcut: return &a.shortcut;
      default: break;
    }
  }
  if (l.mlp) {
    MlpWeights& m = *l.mlp;
    switch (role) {
      case TensorRole::MlpNorm: return &m.norm;
      case TensorRole::Gate: return &m.gate;
      case TensorRole::Up: return &m.up;
      case TensorRole::Down: return &m.down;
      case TensorRole::GateBias: return &m.gate_bias;
      case TensorRole::UpBias: return &m.up_bias;
      case TensorRole::DownBias: return &m.down_bias;
      case TensorRole::MlpShortcut: return &m.shortcut;
      default: break;
    }
  }
  return nullptr;
}

void for_each_layer_tensor(LayerWeights& l, const std::function<void(TensorRole, at::Tensor&)>& fn) {
  static constexpr TensorRole kLayerRoles[] = {
      TensorRole::AttnNorm, TensorRole::Q, TensorRole::K, TensorRole::V, TensorRole::O,
      TensorRole::QBias, TensorRole::KBias, TensorRole::VBias, TensorRole::OBias, TensorRole::QNorm,
      TensorRole::KNorm, TensorRole::AttnShortcut, TensorRole::MlpNorm, TensorRole::Gate, TensorRole::Up,
      TensorRole::Down, TensorRole::GateBias, TensorRole::UpBias, TensorRole::DownBias, TensorRole::MlpShortcut};
  for (TensorRole r : kLayerRoles)
    if (at::Tensor* t = layer_slot(l, r); t && t->defined()) fn(r, *t);
}

const at::Tensor& tensor_slot(const ModelWeights& w, const TensorSpec& s) {
  return tensor_slot(const_cast<ModelWeights&>(w), s);
}

ModelWeights make_structure(const ModelConfig& c) {
  ModelWeights w;
  w.layers.resize(c.layers.size());
  for (size_t i = 0; i < c.layers.size(); ++i) {
    if (c.layers[i].has_attn) w.layers[i].attn.emplace();
    if (c.layers[i].has_mlp) w.layers[i].mlp.emplace();
  }
  return w;
}

ParamCounts count_params(const ModelConfig& c) {
  ParamCounts p;
  p.per_layer.assign(c.layers.size(), 0);
  for_each_tensor(c, [&](const TensorSpec& s) {
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    p.total += n;
    if (s.role == TensorRole::Embed || s.role == TensorRole::LmHead) p.embeddings += n;
    if (s.layer >= 0) p.per_layer[s.layer] += n;
  });
  return p;
}

}  // namespace lopper
