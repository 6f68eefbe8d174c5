#include "lopper/prune/width/ffn_importance.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <numeric>

#include "lopper/util/error.h"

namespace lopper {

namespace {

// Sums, per layer, the L2 norm over tokens of every down_proj input channel of each sample.
class ChannelNorms : public TapHandler {
 public:
  explicit ChannelNorms(int layers) : sums(layers) {}
  bool wants(int, Tap t) const override { return t == Tap::MlpAct; }
  void on(int layer, Tap, at::Tensor& x) override {  // x [n, T, F]
    auto norms = x.to(at::kDouble).norm(2, {1}).sum(0);  // [F]
    sums[layer] = sums[layer].defined() ? sums[layer] + norms : norms;
  }
  std::vector<at::Tensor> sums;
};

}  // namespace

std::vector<at::Tensor> ffn_importance(const Model& m, const at::Tensor& ids, int64_t micro_batch) {
  c10::InferenceMode guard;
  check(micro_batch >= 1, "--micro-batch {} must be at least 1", micro_batch);
  ChannelNorms taps(m.config.num_layers());
  const int64_t N = ids.size(0);
  for (int64_t i = 0; i < N; i += micro_batch) {
    ForwardContext ctx;
    ctx.taps = &taps;
    m.run_layers(m.embed(ids.narrow(0, i, std::min(micro_batch, N - i))), 0, m.config.num_layers(), ctx);
  }
  for (auto& s : taps.sums)
    if (s.defined()) s = (s / static_cast<double>(N)).cpu();
  return taps.sums;
}

std::vector<int64_t> top_channels(const at::Tensor& score, int64_t keep) {
  check(score.defined() && score.dim() == 1 && score.scalar_type() == at::kDouble,
        "internal: top_channels needs a 1-D fp64 score");
  check(keep >= 0 && keep <= score.size(0), "internal: keeping {} of {} channels", keep, score.size(0));
  auto acc = score.accessor<double, 1>();
  std::vector<int64_t> idx(score.size(0));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return acc[a] > acc[b]; });
  idx.resize(keep);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace lopper
