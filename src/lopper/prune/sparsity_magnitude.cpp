// Magnitude pruning: score |W_ij|, compared over the whole matrix (not per row), as the Wanda
// repository's prune_magnitude does; N:M compares within each group of M consecutive inputs of a row.
// No calibration data. The reference zeros every |W| <= the k-th smallest value (one weight more
// than k, plus ties); here exactly k = floor(s * numel) are zeroed, ties to the lower flat index.
#include <ATen/ATen.h>

#include "lopper/prune/sparsity.h"

namespace lopper {

namespace {

class Magnitude : public SparsityMethod {
 public:
  std::string name() const override { return "magnitude"; }
  std::string description() const override {
    return "|W|, the lowest floor(s*numel) over each whole matrix (Wanda repo's prune_magnitude); N:M per "
           "group of M inputs";
  }
  StatsNeed needs() const override { return StatsNeed::None; }
  void prune(at::Tensor& w, InputStats*, int64_t zeros, const NMPattern& nm, const SparsityOptions&) const override {
    auto score = w.abs().to(at::kFloat);  // [out, in]
    w.masked_fill_(nm.active() ? mask_nm(score, nm) : mask_lowest(score, zeros), 0);
  }
};

}  // namespace

std::unique_ptr<SparsityMethod> make_magnitude_sparsity() { return std::make_unique<Magnitude>(); }

}  // namespace lopper
