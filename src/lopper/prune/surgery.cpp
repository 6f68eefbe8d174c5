#include "lopper/prune/surgery.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "lopper/util/error.h"

namespace lopper {

namespace {

void check_layer(const Model& m, int layer) {
  check(layer >= 0 && layer < m.config.num_layers(), "layer {} is out of range (model has {} layers)",
        layer, m.config.num_layers());
}

// Removing a layer or sublayer would break the chain of rotations between them (each shortcut and
// each sublayer's output are in the basis the next one reads).
void check_not_sliced(const Model& m, const char* what) {
  check(!is_sliced(m.config), "cannot {}: the model is SliceGPT-rotated (each block's shortcut matrices rotate the "
        "residual stream into the next block's basis, so blocks cannot be removed)", what);
}

at::Tensor index_rows(const at::Tensor& t, const at::Tensor& idx) {
  return t.defined() ? t.index_select(0, idx).contiguous() : t;
}

at::Tensor index_tensor(const std::vector<int64_t>& v, const at::Tensor& like) {
  return at::tensor(v, at::kLong).to(like.device());
}

}  // namespace

void remove_layers(Model& m, std::vector<int> layers) {
  check_not_sliced(m, "remove layers");
  std::set<int> drop(layers.begin(), layers.end());
  for (int l : drop) check_layer(m, l);
  check(static_cast<int>(drop.size()) < m.config.num_layers(),
        "cannot remove {} of {} layers: at least one must remain", drop.size(), m.config.num_layers());
  std::vector<LayerSpec> specs;
  std::vector<LayerWeights> weights;
  for (int i = 0; i < m.config.num_layers(); ++i) {
    if (drop.count(i)) continue;
    specs.push_back(m.config.layers[i]);
    weights.push_back(std::move(m.weights.layers[i]));
  }
  m.config.layers = std::move(specs);
  m.weights.layers = std::move(weights);
}

void remove_attention(Model& m, int layer) {
  check_not_sliced(m, "remove an attention sublayer");
  check_layer(m, layer);
  auto& s = m.config.layers[layer];
  s.has_attn = false;
  s.num_heads = s.num_kv_heads = 0;
  m.weights.layers[layer].attn.reset();
}

void remove_mlp(Model& m, int layer) {
  check_not_sliced(m, "remove an MLP sublayer");
  check_layer(m, layer);
  auto& s = m.config.layers[layer];
  s.has_mlp = false;
  s.intermediate_size = 0;
  m.weights.layers[layer].mlp.reset();
}

void keep_mlp_channels(Model& m, int layer, const std::vector<int64_t>& channels) {
  check_layer(m, layer);
  auto& s = m.config.layers[layer];
  check(s.has_mlp, "layer {} has no MLP", layer);
  check(!channels.empty(), "layer {}: keeping zero FFN channels; remove the MLP instead", layer);
  for (auto c : channels)
    check(c >= 0 && c < s.intermediate_size, "layer {}: FFN channel {} out of range (width {})", layer, c,
          s.intermediate_size);
  auto& w = *m.weights.layers[layer].mlp;
  auto idx = index_tensor(channels, w.gate);
  w.gate = index_rows(w.gate, idx);
  w.up = index_rows(w.up, idx);
  w.gate_bias = index_rows(w.gate_bias, idx);
  w.up_bias = index_rows(w.up_bias, idx);
  w.down = w.down.index_select(1, idx).contiguous();
  s.intermediate_size = static_cast<int64_t>(channels.size());
}

void keep_kv_groups(Model& m, int layer, const std::vector<int64_t>& groups) {
  check_layer(m, layer);
  auto& s = m.config.layers[layer];
  check(s.has_attn, "layer {} has no attention", layer);
  check(!groups.empty(), "layer {}: keeping zero KV groups; remove the attention instead", layer);
  const int64_t D = m.config.head_dim, G = s.num_heads / s.num_kv_heads;
  std::vector<int64_t> kv_rows, q_rows;
  for (auto g : groups) {
    check(g >= 0 && g < s.num_kv_heads, "layer {}: KV group {} out of range ({} groups)", layer, g, s.num_kv_heads);
    for (int64_t d = 0; d < D; ++d) kv_rows.push_back(g * D + d);
    for (int64_t h = g * G; h < (g + 1) * G; ++h)
      for (int64_t d = 0; d < D; ++d) q_rows.push_back(h * D + d);
  }
  auto& w = *m.weights.layers[layer].attn;
  auto qi = index_tensor(q_rows, w.q), ki = index_tensor(kv_rows, w.k);
  w.q = index_rows(w.q, qi);
  w.q_bias = index_rows(w.q_bias, qi);
  w.k = index_rows(w.k, ki);
  w.k_bias = index_rows(w.k_bias, ki);
  w.v = index_rows(w.v, ki);
  w.v_bias = index_rows(w.v_bias, ki);
  w.o = w.o.index_select(1, qi).contiguous();
  s.num_kv_heads = static_cast<int>(groups.size());
  s.num_heads = static_cast<int>(groups.size() * G);
}

}  // namespace lopper
