// Key/value cache for incremental decoding. Per layer, keys and values live in a buffer that grows
// by doubling, so appending T tokens costs O(T) amortized instead of re-concatenating everything.
#pragma once
#include <ATen/core/Tensor.h>

#include <utility>

#include "lopper/model/config.h"
#include <vector>

namespace lopper {

class KVCache {
 public:
  explicit KVCache(int num_layers) : layers_(num_layers) {}
  // Tokens already processed by every layer (the position of the next token).
  int64_t length() const { return length_; }
  // Appends this step's keys/values [B, KV, T, D] for `layer`; returns all of them [B, KV, S, D].
  std::pair<at::Tensor, at::Tensor> append(int layer, const at::Tensor& k, const at::Tensor& v);
  // Marks T more tokens as processed (called once per forward step, after all layers).
  void commit(int64_t t) { length_ += t; }
  void clear();
  // A cache whose batch row i is row index[i] of this one (index: int64 [N] on the cache's device),
  // so that N continuations can be decoded after shared, already computed prefixes. `reserve`
  // tokens of room are allocated after the copied ones, so appending that many copies nothing.
  KVCache select_rows(const at::Tensor& index, int64_t reserve = 0) const;
  // Bytes of keys and values one token takes in a cache of this model (all layers).
  static int64_t bytes_per_token(const ModelConfig& config, at::ScalarType dtype);

 private:
  struct Layer {
    at::Tensor k, v;  // [B, KV, capacity, D]
    int64_t len = 0;
  };
  std::vector<Layer> layers_;
  int64_t length_ = 0;
};

}  // namespace lopper
