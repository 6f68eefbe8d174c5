// Runs calibration samples through a model one decoder block at a time, holding only the hidden
// states at the current block boundary ([N, L, C]). Sequential methods (sparsity, SLEB, width
// reconstruction) advance it block by block, optionally changing a block between observing it and
// advancing past it; scoring methods recompute the rest of the model from a cached boundary with
// loss_from(). Work is done in micro-batches so activation memory stays bounded.
#pragma once
#include <ATen/core/Tensor.h>

#include "lopper/model/model.h"

namespace lopper {

class BlockRunner {
 public:
  // ids [N, L]; hidden states are kept on the model's device (in host memory when it is offloaded).
  BlockRunner(const Model& model, const at::Tensor& ids, int64_t micro_batch = 8);

  int next_layer() const { return next_; }
  int64_t num_samples() const { return ids_.size(0); }
  const at::Tensor& ids() const { return ids_; }
  // Inputs of next_layer(): [N, L, C].
  const at::Tensor& hidden() const { return hidden_; }

  // Runs `layer` over `hidden` (all samples, in micro-batches; taps see each micro-batch with the
  // global layer index) and returns the outputs. Does not change the runner.
  at::Tensor run_layer(int layer, const at::Tensor& hidden, TapHandler* taps = nullptr) const;
  // Runs next_layer() with the model as it is now and moves the boundary past it.
  void advance(TapHandler* taps = nullptr);
  // Skips next_layer() without running it (hidden states pass through unchanged).
  void skip() { ++next_; }

  // Mean next-token NLL over all samples when `hidden` enters layer `from` and the model runs from
  // there to the LM head (layers listed in `skip` are left out).
  double loss_from(int from, const at::Tensor& hidden, const std::vector<int>& skip = {}) const;

 private:
  const Model& model_;
  c10::Device store_;  // where hidden states are kept: the model's device, or host memory (offload)
  at::Tensor ids_;     // [N, L] on the model device
  at::Tensor hidden_;  // [N, L, C]
  int next_ = 0;
  int64_t micro_;
};

}  // namespace lopper
