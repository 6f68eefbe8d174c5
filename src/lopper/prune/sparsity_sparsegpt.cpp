// SparseGPT (Frantar & Alistarh, 2023, IST-DASLab/sparsegpt, fasterprune): Optimal Brain Surgeon
// updates computed from the upper Cholesky factor U of the damped inverse Hessian.
//   H = 2/n sum x x^T (fp32); dead inputs (H_jj == 0): H_jj = 1 and W[:, j] = 0;
//   damp = 0.01 * mean(diag H); Hinv = cholesky_inverse(chol(H + damp I)); U = chol(Hinv, upper).
// Columns are processed left to right in blocks of 128. At the start of a block the unstructured mask
// is chosen over the whole block by W^2 / diag(U)^2 (lowest first); for N:M the mask of each group
// of M columns is chosen when the loop reaches it, from the already-updated weights. Pruning column
// i (q = w with masked entries zeroed) propagates err = (w - q) / U_ii to the rest of the block,
// W[:, i:] -= err U[i, i:], and, lazily, to the columns after the block, W[:, i2:] -= Err U[i1:i2, i2:].
//
// Exactness: the reference zeros W^2/d^2 <= the k-th smallest of each block (k + 1 weights, plus
// ties); here the matrix's floor(s * numel) zeros are split over the blocks in proportion to their
// width (block b gets floor(k * end_b / in) - floor(k * start_b / in), which is the reference's
// int(numel_b * s) when that is a whole number) and exactly that many are chosen in each block.
#include <ATen/ATen.h>

#include "lopper/prune/sparsity.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Computes (once per input tap) U = upper Cholesky of (H + damp I)^-1 with the dead-column fix.
// If a Cholesky fails the damping is multiplied by 10, up to 5 more times, then a clear error.
void ensure_factor(InputStats& st, double percdamp, const std::string& what) {
  if (st.hinv_upper.defined()) return;
  check(st.hessian.defined(), "internal: SparseGPT needs the Hessian of {}", what);
  at::Tensor H = st.hessian;  // [in, in], fp32; modified in place, freed once factored
  st.dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(st.dead, 1.0);
  double damp = percdamp * H.diagonal().mean().item<double>();
  for (int attempt = 0; attempt < 6; ++attempt, damp *= 10) {
    auto Hd = H.clone();
    Hd.diagonal().add_(damp);
    auto [L, info] = at::linalg_cholesky_ex(Hd);
    if (info.item<int64_t>() != 0) continue;
    auto [U, info2] = at::linalg_cholesky_ex(at::cholesky_inverse(L), /*upper=*/true);
    if (info2.item<int64_t>() != 0) continue;
    st.hinv_upper = U;
    st.damp_used = damp;
    st.hessian = at::Tensor();
    return;
  }
  fail("SparseGPT: the Hessian of the input of {} is not positive definite even with damping {:.3g} "
       "(try more calibration samples or a larger --sparsegpt-damp)", what, damp / 10);
}

class SparseGpt : public SparsityMethod {
 public:
  std::string name() const override { return "sparsegpt"; }
  std::string description() const override {
    return "OBS updates from the upper Cholesky factor of the damped inverse Hessian, blocks of 128 columns, "
           "lazy batch updates (IST-DASLab/sparsegpt)";
  }
  StatsNeed needs() const override { return StatsNeed::Hessian; }

  void prune(at::Tensor& w, InputStats* st, int64_t zeros, const NMPattern& nm,
             const SparsityOptions& o) const override {
    const int64_t rows = w.size(0), cols = w.size(1), B = o.sparsegpt_block;
    ensure_factor(*st, o.sparsegpt_damp, fmt::format("a [{}, {}] matrix", rows, cols));
    const at::Tensor& U = st->hinv_upper;            // [in, in]
    at::Tensor W = w.to(at::kFloat).clone();         // [out, in] fp32 working copy
    W.masked_fill_(st->dead.unsqueeze(0), 0.0);
    for (int64_t i1 = 0; i1 < cols; i1 += B) {
      const int64_t i2 = std::min(i1 + B, cols), count = i2 - i1;
      at::Tensor W1 = W.slice(1, i1, i2).clone();     // [out, count]
      at::Tensor Err1 = at::empty_like(W1);           // scaled errors (w - q) / U_ii, for the lazy update
      at::Tensor U1 = U.slice(0, i1, i2).slice(1, i1, i2);  // [count, count]
      at::Tensor d1 = U1.diagonal();                  // [count]
      at::Tensor mask1;                               // [out, count], true = prune
      if (nm.active()) {
        mask1 = at::zeros_like(W1, W1.options().dtype(at::kBool));
      } else {
        const int64_t kb = zeros * i2 / cols - zeros * i1 / cols;  // this block's share
        mask1 = mask_lowest(W1.square() / d1.square().unsqueeze(0), kb);
      }
      // w_i - q_i = w_i * mask_i exactly, so err_i = (w_i * mask_i) / U_ii as in the reference.
      at::Tensor maskf = mask1.to(at::kFloat);  // [out, count]
      for (int64_t i = 0; i < count; ++i) {
        if (nm.active() && i % nm.m == 0) {
          auto g = W1.slice(1, i, i + nm.m).square() / d1.slice(0, i, i + nm.m).square().unsqueeze(0);
          auto gm = mask_nm(g, nm);
          mask1.slice(1, i, i + nm.m).copy_(gm);
          maskf.slice(1, i, i + nm.m).copy_(gm);
        }
        at::Tensor err = Err1.select(1, i);
        at::mul_out(err, W1.select(1, i), maskf.select(1, i)).div_(d1[i]);  // [out]
        W1.slice(1, i).addr_(err, U1.select(0, i).slice(0, i), 1.0, -1.0);  // OBS update of the rest of the block
      }
      // Unpruned columns only ever received updates from earlier columns, so W1 holds the reference's
      // Q1 except at the pruned entries, which are set to exact zeros.
      W.slice(1, i1, i2).copy_(W1.masked_fill_(mask1, 0.0));
      if (i2 < cols) W.slice(1, i2).addmm_(Err1, U.slice(0, i1, i2).slice(1, i2), 1.0, -1.0);
    }
    w.copy_(W);  // back to the model dtype; pruned entries are exact zeros in any dtype
  }
};

}  // namespace

std::unique_ptr<SparsityMethod> make_sparsegpt_sparsity() { return std::make_unique<SparseGpt>(); }

}  // namespace lopper
