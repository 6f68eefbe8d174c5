// SPRINT's in-compression tuning (compression_utils.py out_proj_tuning, direction out_channel):
// after sublayer s is removed, the down projection W [C, F] of the next remaining MLP is re-fitted
// by least squares so that the MLP's output makes up for the removal on calibration tokens:
//
//   Xp [tokens, F]  down_proj's input with s removed
//   R  [tokens, C]  the residual entering that MLP with s removed
//   Y  [tokens, C]  the output after that MLP with s present
//   rows r to re-fit: the int(C * ratio) largest sum_i |W_ri| * ||Xp_:,i|| (ties included)
//   solve (Xp^T Xp) W_rows^T = Xp^T (Y - R - b)_rows   (b: down_proj's bias, if any)
//
// with damping d > 0 the reference's regularized system: the rows [Xp^T Xp; d I] W^T =
// [Xp^T (Y - R); d W^T] in the least-squares sense. Sums are accumulated over micro-batches in fp32
// (or fp64) and solved by torch.linalg.lstsq as the reference does (driver gelsd on CPU, gels on
// CUDA). A solution with a NaN or an infinity keeps the original rows.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

namespace lopper {

class RefitAccumulator {
 public:
  // F: down_proj inputs, C: outputs; dtype f32 or f64; device of the sums.
  RefitAccumulator(int64_t F, int64_t C, at::ScalarType dtype, const c10::Device& device);
  // xp [..., F] down_proj inputs; target [..., C] = Y - R - b for the same tokens.
  void add(const at::Tensor& xp, const at::Tensor& target);
  const at::Tensor& gram() const { return a_; }       // Xp^T Xp      [F, F]
  const at::Tensor& cross() const { return b_; }      // Xp^T target  [F, C]
  const at::Tensor& sq_norms() const { return xsq_; } // sum Xp^2     [F]

 private:
  at::Tensor a_, b_, xsq_;
};

struct RefitResult {
  at::Tensor weight;     // [C, F] the whole down_proj weight with the re-fitted rows, in w's dtype/device
  at::Tensor rows;       // bool [C]: rows that were re-fitted
  int64_t rows_refit = 0;
  bool finite = true;    // false: the solve failed and the original rows were kept
};

// w [C, F]: the current down_proj weight. ratio in (0, 1]; damping >= 0.
RefitResult solve_refit(const RefitAccumulator& acc, const at::Tensor& w, double ratio, double damping);

}  // namespace lopper
