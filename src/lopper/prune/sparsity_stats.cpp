#include "lopper/prune/sparsity_stats.h"

#include <ATen/ATen.h>

namespace lopper {

InputStatsCollector::InputStatsCollector(int layer, StatsNeed need, const std::vector<TensorSpec>& specs)
    : layer_(layer), need_(need) {
  if (need_ == StatsNeed::None) return;
  for (const auto& s : specs) stats_[input_tap(s.role)];
}

bool InputStatsCollector::wants(int layer, Tap t) const { return layer == layer_ && stats_.count(t) > 0; }

void InputStatsCollector::on(int, Tap t, at::Tensor& x) {
  InputStats& s = stats_.at(t);
  const int64_t in = x.size(-1);
  auto X = x.reshape({-1, in}).to(at::kFloat);  // [tokens, in]
  s.nsamples += x.dim() == 3 ? x.size(0) : 1;    // sequences, as the references count them
  if (need_ == StatsNeed::ColumnNorms) {
    if (!s.sq_sum.defined()) s.sq_sum = at::zeros({in}, X.options());
    s.sq_sum.add_(X.square().sum(0));
  } else {
    if (!s.hessian.defined()) s.hessian = at::zeros({in, in}, X.options());
    s.hessian.addmm_(X.t(), X);  // += X^T X
  }
}

void InputStatsCollector::finish() {
  for (auto& [tap, s] : stats_) {
    if (s.nsamples == 0) continue;
    const double n = static_cast<double>(s.nsamples);
    if (s.sq_sum.defined()) s.sq_sum.div_(n);
    if (s.hessian.defined()) s.hessian.mul_(2.0 / n);
  }
}

InputStats* InputStatsCollector::get(Tap t) {
  auto it = stats_.find(t);
  return it == stats_.end() || it->second.nsamples == 0 ? nullptr : &it->second;
}

}  // namespace lopper
