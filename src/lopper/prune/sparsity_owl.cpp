// OWL's statistics pass (Yin et al., 2024, luuyin/OWL prune_wanda_outlier): the calibration samples
// run through the dense model layer by layer; for each layer the Wanda scores |W_ij| * ||X_j||_2 of
// all its Linear matrices are pooled and the layer's outlier ratio is the percentage of scores above
// M times their mean (check_outlier_mean). Only one layer's column norms are held at a time.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/calib/block_runner.h"
#include "lopper/prune/sparsity_allocation.h"
#include "lopper/prune/sparsity_stats.h"
#include "lopper/util/progress.h"

namespace lopper {

std::vector<double> owl_outlier_ratios(const Model& model, const CalibData& calib, const SparsityOptions& o) {
  c10::InferenceMode guard;
  const int L = model.config.num_layers();
  BlockRunner runner(model, calib.ids, o.micro_batch);
  std::vector<double> ratios;
  Progress bar("owl outlier ratios", L, "layers");
  for (int l = 0; l < L; ++l) {
    auto specs = linear_specs(model.config, l);
    InputStatsCollector col(l, StatsNeed::ColumnNorms, specs);
    runner.advance(&col);  // dense model: the observed pass is also the pass that moves on
    col.finish();
    auto score = [&](const TensorSpec& s) {  // [out, in]
      return tensor_slot(model.weights, s).abs().to(at::kFloat) * col.get(input_tap(s.role))->sq_sum.sqrt().unsqueeze(0);
    };
    // Two passes over the matrices (mean, then count) instead of one concatenation of all scores.
    double sum = 0;
    int64_t n = 0, above = 0;
    for (const auto& s : specs) {
      sum += score(s).sum().item<double>();
      n += tensor_slot(model.weights, s).numel();
    }
    const double thresh = o.owl_m * sum / static_cast<double>(std::max<int64_t>(n, 1));
    for (const auto& s : specs) above += (score(s) > thresh).sum().item<int64_t>();
    ratios.push_back(n ? 100.0 * static_cast<double>(above) / static_cast<double>(n) : 0.0);
    bar.advance();
  }
  bar.finish();
  return ratios;
}

}  // namespace lopper
