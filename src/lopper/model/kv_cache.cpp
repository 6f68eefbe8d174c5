#include "lopper/model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace lopper {

std::pair<at::Tensor, at::Tensor> KVCache::append(int layer, const at::Tensor& k, const at::Tensor& v) {
  Layer& l = layers_.at(layer);
  const int64_t t = k.size(2), need = l.len + t;
  if (!l.k.defined() || l.k.size(2) < need) {
    const int64_t cap = std::max<int64_t>(need, l.k.defined() ? 2 * l.k.size(2) : 2 * need);
    auto grow = [&](const at::Tensor& old, const at::Tensor& like) {
      auto buf = at::empty({like.size(0), like.size(1), cap, like.size(3)}, like.options());
      if (old.defined() && l.len > 0) buf.narrow(2, 0, l.len).copy_(old.narrow(2, 0, l.len));
      return buf;
    };
    l.k = grow(l.k, k);
    l.v = grow(l.v, v);
  }
  l.k.narrow(2, l.len, t).copy_(k);
  l.v.narrow(2, l.len, t).copy_(v);
  l.len = need;
  return {l.k.narrow(2, 0, need), l.v.narrow(2, 0, need)};
}

KVCache KVCache::select_rows(const at::Tensor& index, int64_t reserve) const {
  KVCache out(static_cast<int>(layers_.size()));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    if (!l.k.defined()) continue;
    auto pick = [&](const at::Tensor& t) {  // [N, KV, len + reserve, D], the first len filled
      auto buf = at::empty({index.size(0), t.size(1), l.len + reserve, t.size(3)}, t.options());
      buf.narrow(2, 0, l.len).copy_(t.narrow(2, 0, l.len).index_select(0, index.to(t.device())));  // layers may sit on several devices
      return buf;
    };
    out.layers_[i].k = pick(l.k);
    out.layers_[i].v = pick(l.v);
    out.layers_[i].len = l.len;
  }
  out.length_ = length_;
  return out;
}

int64_t KVCache::bytes_per_token(const ModelConfig& config, at::ScalarType dtype) {
  int64_t heads = 0;
  for (const auto& l : config.layers)
    if (l.has_attn) heads += l.num_kv_heads;
  return 2 * heads * config.head_dim * static_cast<int64_t>(c10::elementSize(dtype));
}

void KVCache::clear() {
  for (auto& l : layers_) l = Layer{};
  length_ = 0;
}

}  // namespace lopper
