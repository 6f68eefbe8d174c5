// `osscar`: FFN channels removed per layer by OSSCAR's greedy elimination with a least-squares refit
// of down_proj (osscar_solver.h; AMD Quark's OsscarProcessor is the reference).
//
// Layers are processed in order 0..L-1, each fed by its pruned predecessors (BlockRunner): the Gram
// matrix of down_proj's input G = sum over tokens of x x^T ([F, F], fp32) is gathered on the layer as
// it is now, channels with diag(G) == 0 (never active) get a zero down_proj column, the diagonal is
// damped by --damp times its mean, the solver picks the kept channels and refits down_proj, and the
// runner advances past the pruned layer. Quark divides each batch's X^T X by the batch's sample
// count; lopper sums over all tokens (every token weighs the same). Equal batches differ only by a
// constant factor, which the relative damping makes irrelevant to the choice and the refit.
//
// Kept count per layer: aligned_keep(F, ratio, --align) (Quark's rule, multiples of 128 by default).
// Quark only zeroes the removed down_proj columns and leaves gate / up as they are; lopper removes the
// channels structurally (gate / up rows and down columns: keep_mlp_channels), which computes the same
// function, then writes the refit into down_proj.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>

#include "lopper/calib/block_runner.h"
#include "lopper/prune/surgery.h"
#include "lopper/prune/width/ffn_target.h"
#include "lopper/prune/width/osscar_solver.h"
#include "lopper/prune/width/width.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

using Clock = std::chrono::steady_clock;

// G = sum over tokens of x x^T of down_proj's input of one layer, in fp32 on the model's device.
class DownInputGram : public TapHandler {
 public:
  explicit DownInputGram(int layer) : layer_(layer) {}
  bool wants(int layer, Tap t) const override { return layer == layer_ && t == Tap::MlpAct; }
  void on(int, Tap, at::Tensor& x) override {  // x [n, T, F]
    at::Tensor X = x.reshape({-1, x.size(-1)}).to(at::kFloat);  // [n*T, F]
    if (!gram.defined()) gram = at::zeros({X.size(1), X.size(1)}, X.options());
    gram.addmm_(X.t(), X);  // [F, F]
  }
  at::Tensor gram;

 private:
  int layer_;
};

class Osscar : public WidthMethod {
 public:
  std::string name() const override { return "osscar"; }
  std::string description() const override {
    return "FFN channels by OSSCAR's greedy OBS elimination on down_proj's input Gram, layer by layer, with a "
           "least-squares refit of down_proj (AMD Quark; --variant canonical|quark, --damp 0.01, --align 128)";
  }

  void validate(const ModelConfig& c, const WidthOptions& o) const override {
    check_ffn_width_options(c, o, "osscar");
    parse_osscar_variant(o.variant);
  }

  WidthResult run(Model& m, const CalibData& calib, const WidthOptions& o) const override {
    c10::InferenceMode guard;
    validate(m.config, o);
    const OsscarVariant variant = parse_osscar_variant(o.variant);
    const FfnTarget target = ffn_target(m.config, o);
    WidthResult r{PruningPlan::for_model(m, "osscar"), true, nlohmann::json::object()};
    r.plan.refits_omitted = true;  // the refit down_proj lives in the checkpoint; the plan re-applies the shapes
    nlohmann::json layers = nlohmann::json::array();

    const int L = m.config.num_layers();
    BlockRunner runner(m, calib.ids, o.micro_batch);
    Progress bar("osscar", L, "layers");
    for (int l = 0; l < L; ++l) {
      if (!m.config.layers[l].has_mlp) {
        if (l + 1 < L) runner.advance();
        bar.advance();
        continue;
      }
      const auto t0 = Clock::now();
      LayerOnDevice on_device(m, l);  // a streamed layer's down_proj is refit where its Gram matrix is
      const int64_t F = m.config.layers[l].intermediate_size;
      const int64_t keep = ffn_keep(l, F, target, o);
      DownInputGram taps(l);
      runner.run_layer(l, runner.hidden(), &taps);  // inputs with layers < l already pruned
      check(taps.gram.defined(), "internal: no down_proj input seen for layer {}", l);
      at::Tensor G = taps.gram;                                                  // [F, F]
      at::Tensor B = m.weights.layers[l].mlp->down.to(at::kFloat).t().clone();  // [F, C]
      at::Tensor dead = G.diagonal() == 0;                                       // [F]
      B.masked_fill_(dead.unsqueeze(1), 0.0);
      const double damp = o.damp * G.diagonal().mean().item<double>();
      G.diagonal().add_(damp);

      OsscarSolution sol;
      try {
        sol = osscar_select(G, B, keep, variant);
      } catch (const InputError& e) {
        fail("osscar: layer {}: {} (damping {:.3g} = --damp {} times the mean diagonal); try a larger --damp or "
             "more calibration samples", l, e.what(), damp, o.damp);
      }
      const double rel_err = osscar_relative_error(G, damp, B, sol);

      {
        c10::InferenceMode normal(false);  // the model keeps ordinary tensors, whatever the caller's mode
        keep_mlp_channels(m, l, sol.kept);
        auto& down = m.weights.layers[l].mlp->down;  // [C, keep]
        down = sol.weight.t().to(down.scalar_type()).clone(at::MemoryFormat::Contiguous);
      }
      r.plan.actions.push_back({"keep_mlp_channels", l, sol.kept});
      if (l + 1 < L) runner.advance();  // layer l's outputs with its pruned MLP feed layer l + 1

      layers.push_back({{"layer", l},
                        {"d_ff", F},
                        {"kept", keep},
                        {"dead_channels", dead.sum().item<int64_t>()},
                        {"relative_error", rel_err},
                        {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}});
      bar.advance();
    }
    bar.finish();
    r.details["variant"] = osscar_variant_name(variant);
    r.details["damp"] = o.damp;
    r.details["align"] = ffn_align(o);
    r.details["target"] = target.to_json();
    r.details["relative_error"] =
        "sum over tokens of ||x B - x_S W_S||^2 / ||x B||^2 of down_proj: refit vs dense layer on the same inputs";
    r.details["layers"] = layers;
    return r;
  }
};

}  // namespace

std::unique_ptr<WidthMethod> make_osscar_method() { return std::make_unique<Osscar>(); }

}  // namespace lopper
