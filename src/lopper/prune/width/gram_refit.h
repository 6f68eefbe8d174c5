// Least-squares refit of a linear map on a subset of its inputs, from the inputs' Gram matrix alone.
// With X [tokens, F] the inputs, B [F, C] the map (y = x B) and S the kept inputs, the refit is
//   W_S = (G_SS + damp * mean(diag G) I)^{-1} (G B)_S,   G = X^T X
// which minimises ||X_S W_S - X B||^2 (+ the damping term). Solved in fp64.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace lopper {

struct GramRefitResult {
  at::Tensor weight;           // [|S|, C] fp64, on G's device
  double relative_error = 0;   // ||X_S W_S - X B||^2 / ||X B||^2 (undamped G)
};

// g [F, F] (any float dtype), b [F, C]; kept: indices into F. Throws Error when the system is singular.
GramRefitResult gram_refit(const at::Tensor& g, const at::Tensor& b, const std::vector<int64_t>& kept, double damp);

}  // namespace lopper
