// Wanda (Sun et al., 2023, locuslab/wanda): score S_ij = |W_ij| * ||X_j||_2, where ||X_j||^2 is
// the reference's scaler_row = sum over calibration tokens of x_j^2 / nsamples (a common factor, so
// the ranking is that of |W_ij| * sqrt(sum x_j^2)). Scores are compared within each output row
// (per-output comparison group); N:M within each group of M consecutive inputs of a row. No weight
// update.
#include <ATen/ATen.h>

#include "lopper/prune/sparsity.h"

namespace lopper {

namespace {

class Wanda : public SparsityMethod {
 public:
  std::string name() const override { return "wanda"; }
  std::string description() const override {
    return "|W_ij| * ||X_j||_2 compared within each output row (locuslab/wanda); N:M per group of M inputs";
  }
  StatsNeed needs() const override { return StatsNeed::ColumnNorms; }
  void prune(at::Tensor& w, InputStats* st, int64_t zeros, const NMPattern& nm, const SparsityOptions&) const override {
    auto score = w.abs().to(at::kFloat) * st->sq_sum.sqrt().unsqueeze(0);  // [out, in] * [1, in]
    // Per row: the reference's int(in * s) zeros in every row; mask_lowest_per_row gives the same
    // when s * numel is a multiple of the row count and spreads any remainder (docs/sparsity.md).
    w.masked_fill_(nm.active() ? mask_nm(score, nm) : mask_lowest_per_row(score, zeros), 0);
  }
};

}  // namespace

std::unique_ptr<SparsityMethod> make_wanda_sparsity() { return std::make_unique<Wanda>(); }

}  // namespace lopper
