#include "lopper/calib/block_runner.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>

#include "lopper/eval/perplexity.h"
#include "lopper/util/error.h"

namespace lopper {

BlockRunner::BlockRunner(const Model& model, const at::Tensor& ids, int64_t micro_batch)
    : model_(model),
      // With --offload the boundary states wait in host memory ([N, L, C]: 2 GB for 128 windows of
      // 2048 tokens of an 8B model) and each micro-batch visits the device in turn.
      store_(model.offloaded() ? c10::Device(c10::kCPU) : model.device),
      micro_(std::max<int64_t>(1, micro_batch)) {
  c10::InferenceMode guard;
  check(ids.dim() == 2 && ids.size(0) > 0, "calibration ids must be a non-empty [N, L] batch");
  ids_ = ids.to(model.device, at::kLong);
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < ids_.size(0); i += micro_)
    parts.push_back(model.embed(ids_.narrow(0, i, std::min(micro_, ids_.size(0) - i))).to(store_));
  hidden_ = at::cat(parts, 0);  // [N, L, C]
}

at::Tensor BlockRunner::run_layer(int layer, const at::Tensor& hidden, TapHandler* taps) const {
  c10::InferenceMode guard;
  at::Tensor out;  // [N, L, C_out]: C_out differs from the input width in a SliceGPT-rotated model
  for (int64_t i = 0; i < hidden.size(0); i += micro_) {
    int64_t n = std::min(micro_, hidden.size(0) - i);
    ForwardContext ctx;
    ctx.taps = taps;
    auto y = model_.run_layer(layer, hidden.narrow(0, i, n), ctx);  // moves the micro-batch to the layer
    if (!out.defined()) out = at::empty({hidden.size(0), hidden.size(1), y.size(2)}, y.options().device(store_));
    out.narrow(0, i, n).copy_(y);
  }
  return out;
}

void BlockRunner::advance(TapHandler* taps) {
  check(next_ < model_.config.num_layers(), "BlockRunner: already past the last layer");
  hidden_ = run_layer(next_, hidden_, taps);
  ++next_;
}

double BlockRunner::loss_from(int from, const at::Tensor& hidden, const std::vector<int>& skip) const {
  c10::InferenceMode guard;
  double total = 0;
  int64_t count = 0;
  for (int64_t i = 0; i < hidden.size(0); i += micro_) {
    int64_t n = std::min(micro_, hidden.size(0) - i);
    at::Tensor h = hidden.narrow(0, i, n);
    ForwardContext ctx;
    for (int l = from; l < model_.config.num_layers(); ++l)
      if (std::find(skip.begin(), skip.end(), l) == skip.end()) h = model_.run_layer(l, h, ctx);
    auto logits = model_.lm_head(model_.final_norm(h));  // [n, L, V]
    total += next_token_nll_sum(logits, ids_.narrow(0, i, n), 1).sum().item<double>();
    count += n * (ids_.size(1) - 1);
  }
  return total / static_cast<double>(count);
}

}  // namespace lopper
