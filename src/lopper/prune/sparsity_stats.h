// Collects the statistics sparsity methods need from the inputs of one decoder layer's Linear
// matrices, as a TapHandler fed by BlockRunner::run_layer (every micro-batch). Sums are accumulated
// in fp32 on the model device and normalized once at the end (finish()), which equals the
// references' running rescaling (scaler_row *= n / (n + b); H *= n / (n + b)) up to rounding.
#pragma once
#include <map>
#include <vector>

#include "lopper/prune/sparsity.h"

namespace lopper {

class InputStatsCollector : public TapHandler {
 public:
  // Watches the input taps of `specs` (matrices of `layer`).
  InputStatsCollector(int layer, StatsNeed need, const std::vector<TensorSpec>& specs);
  bool wants(int layer, Tap t) const override;
  void on(int layer, Tap t, at::Tensor& x) override;
  // sq_sum /= nsamples, hessian *= 2 / nsamples (the references' scale). Call once after the pass.
  void finish();
  // Statistics of one input tap (null when the tap was not watched or saw nothing).
  InputStats* get(Tap t);

 private:
  int layer_;
  StatsNeed need_;
  std::map<Tap, InputStats> stats_;
};

}  // namespace lopper
