// Angular distance (Gromov et al., 2024, "The Unreasonable Ineffectiveness of the Deeper Layers"):
// d(l, n) = arccos(cos(x_l, x_{l+n})) / pi between the input of block l and the output of block
// l+n-1, at the final token of each sample (the paper), averaged over samples; `--all-tokens`
// averages over every token instead. The window of n blocks with the smallest distance is removed.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "lopper/prune/depth.h"

namespace lopper {

namespace {

// Collects the residual stream at every block boundary for one micro-batch.
struct BoundaryCollector : TapHandler {
  bool all_tokens;
  int layers;
  std::vector<at::Tensor> states;  // [L+1] x [B, T or 1, C] in fp32
  BoundaryCollector(int l, bool all) : all_tokens(all), layers(l), states(l + 1) {}
  bool wants(int layer, Tap t) const override {
    return t == Tap::LayerIn || (t == Tap::LayerOut && layer == layers - 1);
  }
  void on(int layer, Tap t, at::Tensor& x) override {
    auto s = all_tokens ? x : x.narrow(1, x.size(1) - 1, 1);
    states[t == Tap::LayerIn ? layer : layer + 1] = s.to(at::kFloat);
  }
};

class Angular : public DepthMethod {
 public:
  std::string name() const override { return "angular"; }
  std::string description() const override {
    return "Gromov et al. angular distance arccos(cos(x_l, x_{l+n}))/pi at the final token (--all-tokens: "
           "every token); removes the closest window of n blocks";
  }
  DepthResult run(const Model& m, const CalibData& calib, const DepthOptions& o) const override {
    c10::InferenceMode guard;
    const int L = m.config.num_layers(), n = o.n_remove;
    std::vector<double> sum(L, 0.0);
    int64_t count = 0;
    auto ids = calib.ids.to(m.device);
    for (int64_t i = 0; i < ids.size(0); i += o.micro_batch) {
      BoundaryCollector col(L, o.all_tokens);
      ForwardContext ctx;
      ctx.taps = &col;
      m.run_layers(m.embed(ids.narrow(0, i, std::min(o.micro_batch, ids.size(0) - i))), 0, L, ctx);
      for (int l = 0; l + n <= L; ++l) {
        const auto& a = col.states[l];
        const auto& b = col.states[l + n];
        auto cos = (a * b).sum(-1) / (a.pow(2).sum(-1) * b.pow(2).sum(-1)).clamp_min(1e-16).sqrt();
        auto dist = at::arccos(cos.clamp(-1.0, 1.0).to(at::kDouble)) / M_PI;  // [B, T']
        sum[l] += dist.sum().item<double>();
      }
      count += col.states[0].size(0) * col.states[0].size(1);
    }
    DepthResult r;
    r.score_name = o.all_tokens ? "angular_distance_all_tokens" : "angular_distance_last_token";
    for (int l = 0; l < L; ++l)
      r.scores.push_back(l + n <= L ? std::optional<double>(sum[l] / static_cast<double>(count)) : std::nullopt);
    r.removed = best_window(r.scores, n);
    return r;
  }
};

}  // namespace

std::unique_ptr<DepthMethod> make_angular() { return std::make_unique<Angular>(); }

}  // namespace lopper
