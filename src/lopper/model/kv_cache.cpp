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

void KVCache::clear() {
  for (auto& l : layers_) l = Layer{};
  length_ = 0;
}

}  // namespace lopper
