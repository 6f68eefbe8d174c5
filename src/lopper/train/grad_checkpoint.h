// Gradient checkpointing of decoder layers (torch.utils.checkpoint, reentrant form): the forward pass
// keeps only a layer's input; the backward pass runs the layer again with autograd on and
// differentiates that. Activation memory drops from every layer's intermediates to one hidden state per
// layer, at the cost of a second forward pass.
#pragma once
#include <ATen/core/Tensor.h>

#include <vector>

#include "lopper/model/model.h"

namespace lopper {

// model.run_layer(layer, h, ctx) with its intermediates recomputed in the backward pass. `params` are
// the trainable tensors the layer reads through ctx.adapter (they receive gradients); anything random
// in the layer (LoRA dropout) must draw the same values when run again. `ctx` must not hold a KV cache;
// its adapter and taps must outlive the backward pass (ctx itself need not).
at::Tensor checkpointed_layer(const Model& model, int layer, const at::Tensor& h, ForwardContext& ctx,
                              const std::vector<at::Tensor>& params);

}  // namespace lopper
