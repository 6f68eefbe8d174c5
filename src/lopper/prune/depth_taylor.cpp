// Shortened LLaMA's Taylor+ (Kim et al., 2024): the importance of a weight matrix is
// sum |W * dL/dW| (first-order Taylor estimate of the loss change when it is zeroed), with W * dL/dW
// accumulated over calibration batches before taking the absolute value; a block's score is the
// sum over its weights (projections and norms; biases and embeddings excluded), as in the
// reference's defaults (norm_power 1, weight and block reduction "sum"). "+": the first 4 and last 2
// blocks are never removed (--no-plus-heuristic turns this off). Reference calibration: 10 samples of
// 128 tokens.
#include <ATen/ATen.h>

#include <map>

#include "lopper/eval/perplexity.h"
#include "lopper/prune/depth.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

class Taylor : public DepthMethod {
 public:
  std::string name() const override { return "taylor"; }
  std::string description() const override {
    return "Shortened LLaMA Taylor+: block score sum |W * dL/dW| over its weights; keeps the first 4 and last 2 "
           "blocks unless --no-plus-heuristic";
  }
  DepthResult run(const Model& m, const CalibData& calib, const DepthOptions& o) const override {
    const int L = m.config.num_layers();
    // The block weights that get gradients, by spec; everything else stays frozen.
    std::vector<TensorSpec> specs;
    for_each_tensor(m.config, [&](const TensorSpec& s) {
      if (s.layer >= 0 && s.name.ends_with(".weight")) specs.push_back(s);
    });
    std::vector<at::Tensor> salience(specs.size());
    for (const auto& s : specs) tensor_slot(m.weights, s).set_requires_grad(true);
    struct Restore {
      const Model& m;
      std::vector<TensorSpec>& specs;
      ~Restore() {
        for (const auto& s : specs) {
          auto& t = tensor_slot(m.weights, s);
          t.set_requires_grad(false);
          t.mutable_grad() = at::Tensor();
        }
      }
    } restore{m, specs};

    auto ids = calib.ids.to(m.device);
    const int64_t N = ids.size(0), T = ids.size(1);
    // Loss per micro-batch = its NLL sum / all calibration targets, so the accumulated gradient is
    // that of the overall mean loss whatever the micro-batch size (the reference uses one batch).
    const double total_targets = static_cast<double>(N * (T - 1));
    // Backpropagation one block at a time: a forward pass keeps only the block-boundary states
    // (host memory when the model is offloaded), then each block, last first, is run again with
    // gradients and backpropagated from the gradient at its output. The gradients are those of one
    // backward pass through the whole model, but only one block's graph (and, streamed, one block's
    // weights) is on the device at a time.
    const c10::Device store = m.offloaded() ? c10::Device(c10::kCPU) : m.device;
    Progress bar("taylor", N, "samples");
    for (int64_t i = 0; i < N; i += o.micro_batch) {
      int64_t n = std::min(o.micro_batch, N - i);
      auto batch = ids.narrow(0, i, n);
      std::vector<at::Tensor> states(L + 1);  // [n, T, C] entering each block, and the last output
      {
        at::Tensor h = m.embed(batch);
        for (int l = 0; l < L; ++l) {
          states[l] = h.detach().to(store);
          ForwardContext ctx;
          h = m.run_layer(l, h, ctx).detach();  // grad mode as in the backward: the same kernels
        }
        states[L] = h.to(store);
      }
      at::Tensor out = states[L].to(m.device).requires_grad_(true);
      auto loss = next_token_nll_sum(m.lm_head(m.final_norm(out)), batch, 1).sum() / total_targets;
      loss.backward();
      at::Tensor grad = out.grad();
      for (int l = L - 1; l >= 0; --l) {
        at::Tensor x = states[l].to(m.layer_device(l)).requires_grad_(true);
        ForwardContext ctx;
        at::Tensor y = m.run_layer(l, x, ctx);
        y.backward(grad.to(y.device()));
        grad = x.grad();
        states[l + 1] = at::Tensor();
      }
      for (size_t k = 0; k < specs.size(); ++k) {
        auto& w = tensor_slot(m.weights, specs[k]);
        check(w.grad().defined(), "taylor: no gradient reached {}", specs[k].name);
        auto s = (w.detach() * w.grad()).to(at::kFloat);
        salience[k] = salience[k].defined() ? salience[k] + s : s;
        w.mutable_grad() = at::Tensor();
      }
      bar.advance(n);
    }
    bar.finish();

    DepthResult r;
    r.score_name = "taylor_abs_w_grad_sum";
    std::vector<double> score(L, 0.0);
    nlohmann::json per_matrix = nlohmann::json::object();
    for (size_t k = 0; k < specs.size(); ++k) {
      double v = salience[k].abs().to(at::kDouble).sum().item<double>();
      score[specs[k].layer] += v;
      per_matrix[specs[k].name] = v;
    }
    for (int l = 0; l < L; ++l) r.scores.push_back(score[l]);
    std::set<int> protect;
    if (o.plus_heuristic)
      for (int l : {0, 1, 2, 3, L - 2, L - 1})
        if (l >= 0 && l < L) protect.insert(l);
    r.removed = lowest_k(r.scores, o.n_remove, protect);
    r.details["per_matrix"] = per_matrix;
    r.details["plus_heuristic"] = o.plus_heuristic;
    r.details["protected_layers"] = std::vector<int>(protect.begin(), protect.end());
    return r;
  }
};

}  // namespace

std::unique_ptr<DepthMethod> make_taylor() { return std::make_unique<Taylor>(); }

}  // namespace lopper
