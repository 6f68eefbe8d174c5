#include "lopper/prune/search/twossp_formula.h"

#include <cmath>

#include "lopper/model/weights.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Python's round(): to nearest, halves to even (the default floating-point rounding mode).
int64_t py_round(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

}  // namespace

nlohmann::json TwoSspFormula::to_json() const {
  return {{"p_attn", p_attn}, {"p_mlp", p_mlp}, {"p_total", p_total}, {"num_layers", num_layers},
          {"n_attn", n_attn}, {"target_params", target}, {"mlp_params_removed_per_layer", mlp_per_layer},
          {"mlp_rate", rate}, {"d_ff", d_ff}, {"ffn_keep", keep}, {"attn_fraction", attn_fraction},
          {"max_fraction", max_fraction}};
}

TwoSspFormula twossp_formula(const ModelConfig& c, double s, double alpha) {
  check(s > 0 && s < 1, "--sparsity {} must be in (0, 1)", s);
  check(alpha > 0, "--alpha {} must be positive", alpha);
  const int L = c.num_layers();
  check(L >= 1, "the model has no decoder layers");
  const LayerSpec& first = c.layers[0];
  for (int l = 0; l < L; ++l)
    check(c.layers[l] == first && first.has_attn && first.has_mlp, "2ssp needs a model whose layers all have "
          "attention and an MLP of the same shape; layer {} differs from layer 0", l);
  TwoSspFormula f;
  f.num_layers = L;
  f.d_ff = first.intermediate_size;
  for_each_tensor(c, [&](const TensorSpec& t) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    if (t.layer < 0) return;
    f.p_total += n;
    if (t.layer != 0) return;
    switch (t.role) {
      case TensorRole::AttnNorm: case TensorRole::MlpNorm: break;  // in neither sublayer's count
      case TensorRole::Gate: case TensorRole::Up: case TensorRole::Down: case TensorRole::GateBias:
      case TensorRole::UpBias: case TensorRole::DownBias:
        f.p_mlp += n;
        break;
      default:
        f.p_attn += n;
    }
  });
  const double pa = static_cast<double>(f.p_attn), pm = static_cast<double>(f.p_mlp),
               pt = static_cast<double>(f.p_total);
  f.n_attn = static_cast<int>(py_round(L * std::pow(s, (pm / pa) / alpha)));
  f.attn_fraction = f.n_attn * pa / pt;
  f.max_fraction = (f.n_attn * pa + L * pm) / pt;
  check(f.attn_fraction <= s, "2ssp: --sparsity {} asks for {} attention sublayers ({:.6f} of the decoder "
        "parameters), more than the target", s, f.n_attn, f.attn_fraction);
  check(f.max_fraction >= s, "2ssp: --sparsity {} cannot be reached with {} attention sublayers removed (at most "
        "{:.6f} of the decoder parameters even with every MLP gone)", s, f.n_attn, f.max_fraction);
  f.target = py_round(s * pt);
  f.mlp_per_layer = py_round(static_cast<double>(f.target - f.n_attn * f.p_attn) / L);
  f.rate = static_cast<double>(f.mlp_per_layer) / pm;
  f.keep = py_round(static_cast<double>(f.d_ff) * (1.0 - f.rate));
  check(f.keep >= 1, "2ssp: --sparsity {} keeps {} FFN channels per layer; at least one must remain", s, f.keep);
  check(f.n_attn < L, "2ssp: --sparsity {} removes all {} attention sublayers", s, L);
  return f;
}

}  // namespace lopper
