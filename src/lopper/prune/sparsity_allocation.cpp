// The allocation formulas (ATP, OWL's mapping, AlphaPruning's Hill estimator and mapping) and the
// eigenspectrum pass. The OWL statistics pass is in sparsity_owl.cpp, the ATP search in sparsity.cpp.
#include "lopper/prune/sparsity_allocation.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

std::vector<std::string> allocation_names() { return {"uniform", "atp", "owl", "alphapruning"}; }

std::vector<TensorSpec> all_linear_specs(const ModelConfig& c) {
  std::vector<TensorSpec> out;
  for_each_tensor(c, [&](const TensorSpec& s) {
    if (is_linear_weight(s.role)) out.push_back(s);
  });
  return out;
}

// ---- ATP ----

double atp_max_step(double S, int L) {
  if (L <= 1) return 0.0;
  return std::min(2.0 * S, 2.0 * (1.0 - S)) / static_cast<double>(L - 1);
}

std::vector<double> atp_layer_sparsities(double S, int L, double d) {
  // Centred on S, so the (equal-weight) mean over layers is S for every d.
  std::vector<double> s(L);
  for (int l = 0; l < L; ++l) s[l] = S + d * (static_cast<double>(l) - static_cast<double>(L - 1) / 2.0);
  return s;
}

std::vector<double> atp_candidates(double S, int L, int steps) {
  const double dmax = atp_max_step(S, L);
  std::vector<double> c;
  for (int k = 0; k < std::max(1, steps); ++k) c.push_back(dmax * k / std::max(1, steps));
  return c;
}

// ---- OWL ----

std::vector<double> owl_layer_sparsities(const std::vector<double>& D, double S, double lambda) {
  const auto [lo, hi] = std::minmax_element(D.begin(), D.end());
  std::vector<double> n(D.size(), 0.0);
  if (*hi > *lo)
    for (size_t i = 0; i < D.size(); ++i) n[i] = (D[i] - *lo) / (*hi - *lo) * 2.0 * lambda;
  const double mean = std::accumulate(n.begin(), n.end(), 0.0) / static_cast<double>(n.size());
  // Reference: density_l = n_l - mean(n) + (1 - S); sparsity_l = 1 - density_l. More outliers, less pruning.
  std::vector<double> s(D.size());
  for (size_t i = 0; i < D.size(); ++i) s[i] = S - (n[i] - mean);
  return s;
}

// ---- AlphaPruning ----

double hill_alpha(const std::vector<double>& e, const std::string& xmin_rule) {
  const int64_t N = static_cast<int64_t>(e.size());
  check(N >= 2, "internal: alpha needs at least 2 eigenvalues");
  std::vector<double> lg(N), suffix(N + 1, 0.0);  // suffix[i] = sum_{j>=i} log e_j
  for (int64_t i = 0; i < N; ++i) lg[i] = std::log(e[i]);
  for (int64_t i = N - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + lg[i];
  auto alpha_at = [&](int64_t i) {
    const double n = static_cast<double>(N - i);
    return 1.0 + n / (suffix[i] - n * lg[i]);
  };
  if (xmin_rule == "mid") return alpha_at(N / 2);

  // xmin_peak: histogram of log10 eigenvalues, 100 equal bins over [min, max] (torch.histc).
  const int bins = 100;
  std::vector<double> h(N);
  for (int64_t i = 0; i < N; ++i) h[i] = std::log10(e[i]);
  const double lo = *std::min_element(h.begin(), h.end()), hi = *std::max_element(h.begin(), h.end());
  std::vector<int64_t> counts(bins, 0);
  for (double v : h) {
    int b = hi > lo ? static_cast<int>((v - lo) / (hi - lo) * bins) : 0;
    counts[std::clamp(b, 0, bins - 1)]++;
  }
  const int ih = static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  const double xmin2 = std::pow(10.0, lo + (hi - lo) * ih / bins);
  // The reference compares a (linear) eigenvalue against log10(0.95 * xmin2); kept as it is, so that
  // alphas match AlphaPruning's (docs/sparsity.md).
  const double xmin_min = std::log10(0.95 * xmin2), xmin_max = 1.5 * xmin2;
  std::vector<double> alphas(N - 1, 0.0), Ds(N - 1, 1.0);
  for (int64_t i = 0; i + 1 < N; ++i) {
    const double xmin = e[i];
    if (xmin < xmin_min) continue;
    if (xmin > xmin_max) break;
    const double a = alpha_at(i), n = static_cast<double>(N - i);
    alphas[i] = a;
    if (a > 1) {
      double D = 0;  // Kolmogorov-Smirnov distance between the fitted and the empirical tail
      for (int64_t k = 0; k < N - i; ++k)
        D = std::max(D, std::abs(1.0 - std::pow(e[i + k] / xmin, 1.0 - a) - static_cast<double>(k) / n));
      Ds[i] = D;
    }
  }
  return alphas[std::min_element(Ds.begin(), Ds.end()) - Ds.begin()];
}

std::vector<double> alpha_sparsities(const std::vector<double>& m, const std::vector<int64_t>& numel, double S,
                                     double eps) {
  const auto [lo, hi] = std::minmax_element(m.begin(), m.end());
  std::vector<double> r(m.size(), 1.0);
  if (*hi > *lo)
    for (size_t i = 0; i < m.size(); ++i) r[i] = (m[i] - *lo) / (*hi - *lo) * 2.0 * eps + (1.0 - eps);
  double total = 0, weighted = 0;
  for (size_t i = 0; i < m.size(); ++i) {
    total += static_cast<double>(numel[i]);
    weighted += static_cast<double>(numel[i]) * r[i];
  }
  // Higher alpha (a less heavy-tailed, less trained spectrum) -> more pruning; mean kept at S.
  std::vector<double> s(m.size());
  for (size_t i = 0; i < m.size(); ++i) s[i] = r[i] * S * total / weighted;
  return s;
}

std::vector<double> esd_alphas(const Model& model, const std::vector<TensorSpec>& specs, const std::string& xmin) {
  c10::InferenceMode guard;
  std::vector<double> out;
  Progress bar("alphapruning ESD", static_cast<int64_t>(specs.size()), "matrices");
  for (const auto& s : specs) {
    auto sv = at::linalg_svdvals(tensor_slot(model.weights, s).to(at::kFloat));  // [min(out, in)]
    auto eig = std::get<0>(sv.square().to(at::kDouble).cpu().sort(0)).contiguous();  // ascending
    std::vector<double> e(eig.data_ptr<double>(), eig.data_ptr<double>() + eig.numel());
    out.push_back(hill_alpha(e, xmin));
    bar.advance();
  }
  bar.finish();
  return out;
}

}  // namespace lopper
