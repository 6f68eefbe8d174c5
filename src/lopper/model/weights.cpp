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
  emit(TensorRole::Embed, -1, {c.vocab_size, C});
  for (int i = 0; i < c.num_layers(); ++i) {
    const LayerSpec& l = c.layers[i];
    if (l.has_attn) {
      const int64_t q = l.num_heads * D, kv = l.num_kv_heads * D;
      emit(TensorRole::AttnNorm, i, {C});
      emit(TensorRole::Q, i, {q, C});
      emit(TensorRole::K, i, {kv, C});
      emit(TensorRole::V, i, {kv, C});
      emit(TensorRole::O, i, {C, q});
      if (c.qkv_bias) {
        emit(TensorRole::QBias, i, {q});
        emit(TensorRole::KBias, i, {kv});
        emit(TensorRole::VBias, i, {kv});
      }
      if (c.o_bias) emit(TensorRole::OBias, i, {C});
      if (c.qk_norm) {
        emit(TensorRole::QNorm, i, {D});
        emit(TensorRole::KNorm, i, {D});
      }
    }
    if (l.has_mlp) {
      const int64_t F = l.intermediate_size;
      emit(TensorRole::MlpNorm, i, {C});
      emit(TensorRole::Gate, i, {F, C});
      emit(TensorRole::Up, i, {F, C});
      emit(TensorRole::Down, i, {C, F});
      if (c.mlp_bias) {
        emit(TensorRole::GateBias, i, {F});
        emit(TensorRole::UpBias, i, {F});
        emit(TensorRole::DownBias, i, {C});
      }
    }
  }
  emit(TensorRole::FinalNorm, -1, {C});
  if (!c.tie_word_embeddings) emit(TensorRole::LmHead, -1, {c.vocab_size, C});
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
  auto attn = [&]() -> AttentionWeights& {
    if (!l.attn) throw Error(fmt::format("tensor {}: layer {} has no attention", s.name, s.layer));
    return *l.attn;
  };
  auto mlp = [&]() -> MlpWeights& {
    if (!l.mlp) throw Error(fmt::format("tensor {}: layer {} has no MLP", s.name, s.layer));
    return *l.mlp;
  };
  switch (s.role) {
    case TensorRole::AttnNorm: return attn().norm;
    case TensorRole::Q: return attn().q;
    case TensorRole::K: return attn().k;
    case TensorRole::V: return attn().v;
    case TensorRole::O: return attn().o;
    case TensorRole::QBias: return attn().q_bias;
    case TensorRole::KBias: return attn().k_bias;
    case TensorRole::VBias: return attn().v_bias;
    case TensorRole::OBias: return attn().o_bias;
    case TensorRole::QNorm: return attn().q_norm;
    case TensorRole::KNorm: return attn().k_norm;
    case TensorRole::MlpNorm: return mlp().norm;
    case TensorRole::Gate: return mlp().gate;
    case TensorRole::Up: return mlp().up;
    case TensorRole::Down: return mlp().down;
    case TensorRole::GateBias: return mlp().gate_bias;
    case TensorRole::UpBias: return mlp().up_bias;
    case TensorRole::DownBias: return mlp().down_bias;
    default: break;
  }
  throw Error(fmt::format("tensor {}: unknown role", s.name));
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
