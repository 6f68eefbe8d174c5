// Additions to the outputs of a model's Linear layers, computed from the same input: LoRA adapters
// while fine-tuning (y = x W^T + b + delta(x)) without copying or editing the base weights. The forward
// pass asks the adapter for every projection; an undefined result adds nothing.
#pragma once
#include <ATen/core/Tensor.h>

#include "lopper/model/weights.h"

namespace lopper {

class LinearAdapter {
 public:
  virtual ~LinearAdapter() = default;
  // x is the projection's input [..., in]; `role` is Q, K, V, O, Gate, Up or Down. Returns the
  // addition [..., out], or an undefined tensor for none.
  virtual at::Tensor delta(int layer, TensorRole role, const at::Tensor& x) = 0;
};

}  // namespace lopper
