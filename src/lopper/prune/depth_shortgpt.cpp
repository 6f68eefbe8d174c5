// ShortGPT (Men et al., 2024): Block Influence BI_i = 1 - E[cos(x_i, x_{i+1})], the cosine between a
// block's input and output hidden states, averaged over all tokens of the calibration data (the
// paper); `--last-token` uses only each sample's final position (2SSP's reference code). The n
// blocks with the lowest BI are removed. Reference defaults: calibration from the target data.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/prune/depth.h"

namespace lopper {

namespace {

// Per-token cosine between a and b [B, T, C] in fp32 (torch.cosine_similarity's eps rule).
at::Tensor token_cos(const at::Tensor& a, const at::Tensor& b) {
  auto x = a.to(at::kFloat), y = b.to(at::kFloat);
  auto dot = (x * y).sum(-1);
  auto denom = (x.pow(2).sum(-1) * y.pow(2).sum(-1)).clamp_min(1e-16).sqrt();
  return dot / denom;  // [B, T]
}

struct CosineCollector : TapHandler {
  bool last_token;
  std::vector<double> sum;
  int64_t count = 0;
  at::Tensor input;
  CosineCollector(int layers, bool last) : last_token(last), sum(layers, 0.0) {}
  bool wants(int, Tap t) const override { return t == Tap::LayerIn || t == Tap::LayerOut; }
  void on(int layer, Tap t, at::Tensor& x) override {
    if (t == Tap::LayerIn) {
      input = x;
      return;
    }
    auto in = input, out = x;
    if (last_token) {
      in = in.narrow(1, in.size(1) - 1, 1);
      out = out.narrow(1, out.size(1) - 1, 1);
    }
    sum[layer] += token_cos(in, out).to(at::kDouble).sum().item<double>();
    if (layer == 0) count += in.size(0) * in.size(1);
  }
};

class ShortGpt : public DepthMethod {
 public:
  std::string name() const override { return "shortgpt"; }
  std::string description() const override {
    return "ShortGPT block influence 1 - cos(block input, output), mean over all tokens (--last-token: "
           "final token only); removes the n lowest";
  }
  DepthResult run(const Model& m, const CalibData& calib, const DepthOptions& o) const override {
    c10::InferenceMode guard;
    const int L = m.config.num_layers();
    CosineCollector col(L, o.last_token);
    auto ids = calib.ids.to(m.device);
    for (int64_t i = 0; i < ids.size(0); i += o.micro_batch) {
      ForwardContext ctx;
      ctx.taps = &col;
      m.run_layers(m.embed(ids.narrow(0, i, std::min(o.micro_batch, ids.size(0) - i))), 0, L, ctx);
    }
    DepthResult r;
    r.score_name = o.last_token ? "block_influence_last_token" : "block_influence";
    for (int l = 0; l < L; ++l) r.scores.push_back(1.0 - col.sum[l] / static_cast<double>(col.count));
    r.removed = lowest_k(r.scores, o.n_remove);
    return r;
  }
};

}  // namespace

std::unique_ptr<DepthMethod> make_shortgpt() { return std::make_unique<ShortGpt>(); }

}  // namespace lopper
