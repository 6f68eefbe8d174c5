// `ffn-l2`: 2SSP's first stage on its own (FabrizioSandri/2SSP). In every layer with an MLP, keep the
// aligned_keep(F, ratio, --align) FFN channels with the largest activation norm (ffn_importance.h:
// mean over calibration samples of the L2 norm over tokens of down_proj's input channel, measured on
// the dense model in one pass; ties to the lower index) and remove the rest structurally. No refit:
// the plan re-applies exactly.
#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>

#include "lopper/prune/surgery.h"
#include "lopper/prune/width/ffn_importance.h"
#include "lopper/prune/width/ffn_target.h"
#include "lopper/prune/width/width.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using Clock = std::chrono::steady_clock;

class FfnL2 : public WidthMethod {
 public:
  std::string name() const override { return "ffn-l2"; }
  std::string description() const override {
    return "FFN channels by activation norm on the dense model, the same fraction in every layer (2SSP's first "
           "stage; --align 128)";
  }

  void validate(const ModelConfig& c, const WidthOptions& o) const override {
    check_ffn_width_options(c, o, "ffn-l2");
    check(o.variant == "canonical", "--variant {} applies to --method osscar, not ffn-l2", o.variant);
  }

  WidthResult run(Model& m, const CalibData& calib, const WidthOptions& o) const override {
    validate(m.config, o);
    const FfnTarget target = ffn_target(m.config, o);
    WidthResult r{PruningPlan::for_model(m, "ffn-l2"), true, nlohmann::json::object()};
    const auto t0 = Clock::now();
    // One pass on the dense model: every layer's scores before any layer is changed.
    const std::vector<at::Tensor> importance = ffn_importance(m, calib.ids, o.micro_batch);  // [F_l] each
    const double score_s = std::chrono::duration<double>(Clock::now() - t0).count();

    nlohmann::json layers = nlohmann::json::array();
    const int L = m.config.num_layers();
    for (int l = 0; l < L; ++l) {
      if (m.config.layers[l].has_mlp) {
        const at::Tensor& score = importance[l];  // [F] fp64
        check(score.defined(), "internal: no down_proj input seen for layer {}", l);
        const int64_t F = m.config.layers[l].intermediate_size;
        const int64_t keep = ffn_keep(l, F, target, o);
        auto kept = top_channels(score, keep);
        const double kept_share =
            score.index_select(0, at::tensor(kept, at::kLong)).sum().item<double>() /
            std::max(score.sum().item<double>(), 1e-300);
        keep_mlp_channels(m, l, kept);
        r.plan.actions.push_back({"keep_mlp_channels", l, kept});
        layers.push_back({{"layer", l}, {"d_ff", F}, {"kept", keep}, {"importance_kept", kept_share}});
      }
    }
    r.details["align"] = ffn_align(o);
    r.details["target"] = target.to_json();
    r.details["samples"] = calib.ids.size(0);
    r.details["importance"] = "mean over samples of the L2 norm over tokens of down_proj's input, dense model";
    r.details["importance_kept"] = "fraction of the layer's summed channel importance that the kept channels hold";
    r.details["score_seconds"] = score_s;
    r.details["layers"] = layers;
    return r;
  }
};

}  // namespace

std::unique_ptr<WidthMethod> make_ffn_l2_method() { return std::make_unique<FfnL2>(); }

}  // namespace lopper
