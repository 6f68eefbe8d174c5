// Key/value cache for incremental decoding. Per layer, keys and values live in a buffer that grows
// by doubling, so appending T tokens costs O(T) amortized instead of re-concatenating everything.
#pragma once
#include <ATen/core/Tensor.h>

#include <utility>
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

 private:
  struct Layer {
    at::Tensor k, v;  // [B, KV, capacity, D]
    int64_t len = 0;
  };
  std::vector<Layer> layers_;
  int64_t length_ = 0;
};

}  // namespace lopper
