// Layer-wise sparsity allocation: which fraction of each matrix to zero when the mean is S.
//   uniform       every matrix S.
//   atp           s_l = S + d (l - (L-1)/2), l = 0..L-1 (ATP, Huang et al. 2025); legal d in
//                 [0, min(2S, 2(1-S)) / (L-1)]; d chosen by a grid search scored on the calibration
//                 samples (sparsity.cpp runs the search).
//   owl           outlier ratio D_l = share of the layer's Wanda scores above M x their mean (dense
//                 model); sparsity_l = S - (n_l - mean n), n_l = 2 lambda (D_l - min D)/(max D - min D)
//                 (luuyin/OWL, Hyper_m 5, Lamda 0.08).
//   alphapruning  per-matrix power-law exponent alpha of the eigenspectrum of W^T W (Hill estimator at
//                 the xmin of the log-histogram peak, "alpha_peak"), averaged per block, mapped linearly
//                 to r in [1 - eps, 1 + eps] and rescaled so the parameter-weighted mean of S r is S
//                 (haiquanlu/AlphaPruning, epsilon 0.3).
// The pure formulas are here so tests can check them on hand-made numbers.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/prune/sparsity.h"

namespace lopper {

std::vector<std::string> allocation_names();  // uniform, atp, owl, alphapruning

// ---- ATP ----
// The largest legal common difference: min(2S, 2(1-S)) / (L-1) (0 when L == 1).
double atp_max_step(double S, int L);
std::vector<double> atp_layer_sparsities(double S, int L, double d);
// The searched candidates: d_max * k / steps for k = 0..steps-1 (0 = uniform; d_max itself would
// give the last layer sparsity 1 when S >= 0.5, or the first 0, so it is left out).
std::vector<double> atp_candidates(double S, int L, int steps);

// ---- OWL ----
// Layer sparsities from outlier ratios (any unit; min-max normalized). All equal ratios: uniform.
std::vector<double> owl_layer_sparsities(const std::vector<double>& outlier_ratio, double S, double lambda);
// Outlier ratio (percent) of every layer of the dense model: Wanda scores of all the layer's Linear
// matrices pooled, share above M x their mean. Runs the calibration samples layer by layer with the
// dense weights (the reference's first pass).
std::vector<double> owl_outlier_ratios(const Model& model, const CalibData& calib, const SparsityOptions& o);

// ---- AlphaPruning ----
// Hill estimate of the power-law exponent of eigenvalues `eigs` (ascending, > 0) with xmin chosen as
// in AlphaPruning's net_esd_estimator: "mid" = the eigenvalue at index n/2; "peak" = the xmin in
// [.., 1.5 x the left edge of the peak bin of a 100-bin log10 histogram] minimizing the KS distance.
double hill_alpha(const std::vector<double>& eigs, const std::string& xmin);
// Per-matrix sparsities: r = 1 - eps + 2 eps (m - min m)/(max m - min m), scaled by S * sum(numel) /
// sum(numel * r). Equal metrics: uniform.
std::vector<double> alpha_sparsities(const std::vector<double>& metric, const std::vector<int64_t>& numel,
                                     double S, double eps);
// Alpha of every Linear matrix (checkpoint order of `specs`), from fp32 singular values.
std::vector<double> esd_alphas(const Model& model, const std::vector<TensorSpec>& specs, const std::string& xmin);

// Every Linear matrix of the model, in checkpoint order.
std::vector<TensorSpec> all_linear_specs(const ModelConfig& c);

}  // namespace lopper
