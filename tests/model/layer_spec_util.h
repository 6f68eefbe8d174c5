// A LayerSpec in one expression, for config tests.
#pragma once
#include <cstdint>

#include "lopper/model/config.h"

namespace lopper::test {

inline LayerSpec layer_spec(bool attn, int heads, int kv, bool mlp, int64_t ffn) {
  LayerSpec l;
  l.has_attn = attn;
  l.num_heads = heads;
  l.num_kv_heads = kv;
  l.has_mlp = mlp;
  l.intermediate_size = ffn;
  return l;
}

}  // namespace lopper::test
