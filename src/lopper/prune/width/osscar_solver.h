// OSSCAR's combinatorial step for one down_proj (Meng et al., 2024, "OSSCAR: One-Shot Structured
// Pruning in Vision and Language Models with Combinatorial Optimization"; AMD Quark's
// quark/torch/algorithm/osscar): given the damped Gram matrix G = sum x x^T + damp I of down_proj's
// input ([F, F]) and B = W_down^T ([F, C]), choose the `keep` input channels S whose least-squares
// refit W_S = (G_SS)^-1 (G B)_S loses least of the output X B. Greedy backward elimination, one
// channel per step (Quark's update_iter = 1), with Optimal Brain Surgeon group saliencies:
//   W = Hinv (G B);  saliency_q = sum_c W[q,c]^2 / (2 Hinv[q,q]);  remove q = argmin (ties: lower q);
//   W -= Hinv[:,q] W[q,:] / Hinv[q,q], W[q,:] = 0;  Hinv -= Hinv[:,q] Hinv[q,:] / Hinv[q,q], row/col q = 0.
// Canonical (the paper): Hinv = G^-1, so W = B at the start and, after each step, W restricted to the
// remaining set R is the exact refit (G_RR)^-1 (G B)_R and the saliency is the exact increase of
// the objective. Quark's code uses instead the upper Cholesky factor U of G^-1 (U^T U = G^-1) in place
// of G^-1 (variant "quark"); its choices differ when the inputs are correlated.
// Channels whose row of B is all zero (down_proj column zero: dead inputs, zeroed by the caller) are
// removed before the greedy steps, as Quark does; canonical removes them with the exact downdate of
// Hinv, quark zeroes their rows and columns of U (Quark's code; the same thing for dead inputs, whose
// rows and columns of G are zero off the diagonal).
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lopper {

enum class OsscarVariant { Canonical, Quark };

// "canonical" | "quark"; InputError naming --variant otherwise.
OsscarVariant parse_osscar_variant(const std::string& s);
const char* osscar_variant_name(OsscarVariant v);

struct OsscarSolution {
  std::vector<int64_t> kept;     // ascending
  std::vector<int64_t> removed;  // in removal order (the zero rows first)
  int64_t zero_rows_removed = 0; // how many of `removed` were zero rows of B, removed before the greedy steps
  at::Tensor weight;             // [keep, C] refit W_S = (G_SS)^-1 (G B)_S, rows in `kept` order
};

// G [F, F] damped Gram (symmetric positive definite), B [F, C]; both the same floating dtype, which the
// arithmetic uses (the osscar method passes fp32). InputError when G (or G_SS) is not numerically
// positive definite.
OsscarSolution osscar_select(const at::Tensor& G, const at::Tensor& B, int64_t keep, OsscarVariant v);

// sum over tokens of ||x B - x_S W_S||^2 / ||x B||^2 for the solution, from the damped Gram and the
// damping that was added to its diagonal (the error is measured with the undamped G).
double osscar_relative_error(const at::Tensor& G, double damp_added, const at::Tensor& B, const OsscarSolution& s);

}  // namespace lopper
