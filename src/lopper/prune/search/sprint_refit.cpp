#include "lopper/prune/search/sprint_refit.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>

#include "lopper/util/error.h"

namespace lopper {

RefitAccumulator::RefitAccumulator(int64_t F, int64_t C, at::ScalarType dtype, const c10::Device& device) {
  auto o = at::TensorOptions().dtype(dtype).device(device);
  a_ = at::zeros({F, F}, o);
  b_ = at::zeros({F, C}, o);
  xsq_ = at::zeros({F}, o);
}

void RefitAccumulator::add(const at::Tensor& xp, const at::Tensor& target) {
  const int64_t F = a_.size(0), C = b_.size(1);
  auto x = xp.reshape({-1, F}).to(a_.device(), a_.scalar_type());       // [tokens, F]
  auto y = target.reshape({-1, C}).to(a_.device(), a_.scalar_type());   // [tokens, C]
  check(x.size(0) == y.size(0), "refit: {} input rows for {} target rows", x.size(0), y.size(0));
  a_.addmm_(x.t(), x);
  b_.addmm_(x.t(), y);
  xsq_.add_((x * x).sum(0));
}

RefitResult solve_refit(const RefitAccumulator& acc, const at::Tensor& w, double ratio, double damping) {
  const int64_t C = acc.cross().size(1), F = acc.gram().size(0);
  check(w.dim() == 2 && w.size(0) == C && w.size(1) == F, "refit: weight [{}, {}] does not match the sums [{}, {}]",
        w.size(0), w.size(1), C, F);
  check(ratio > 0 && ratio <= 1, "--tuning-ratio {} must be in (0, 1]", ratio);
  check(damping >= 0, "--damping {} must not be negative", damping);
  const int64_t k = static_cast<int64_t>(static_cast<double>(C) * ratio);
  check(k >= 1, "--tuning-ratio {} re-fits int({} x {}) = 0 rows", ratio, C, ratio);
  const auto dt = acc.gram().scalar_type();
  auto w_acc = w.to(acc.gram().device(), dt);                                   // [C, F]
  auto score = (w_acc.abs() * acc.sq_norms().sqrt().unsqueeze(0)).sum(1);       // [C]
  auto kth = std::get<0>(score.topk(k)).select(0, k - 1);
  RefitResult r;
  r.rows = score >= kth;                                                          // ties included, as the reference
  auto idx = r.rows.nonzero().squeeze(1);
  r.rows_refit = idx.numel();
  at::Tensor ata = acc.gram(), atb = acc.cross().index_select(1, idx);           // [F, F], [F, k]
  if (damping > 0) {
    ata = at::cat({ata, damping * at::eye(F, ata.options())}, 0);                // [2F, F]
    atb = at::cat({atb, damping * w_acc.index_select(0, idx).t()}, 0);           // [2F, k]
  }
  // torch.linalg.lstsq as the reference, with a fixed driver: on CPU the default (gelsy) pivots from
  // an uninitialized array in libtorch 1.13, so rank-deficient systems (fewer calibration tokens than
  // FFN channels) gave different answers from call to call; gelsd (SVD) gives the same minimum-norm
  // solution every time. CUDA has only gels (QR, full rank assumed), the reference's GPU solver.
  const char* driver = ata.is_cuda() ? "gels" : "gelsd";
  r.weight = w.clone();
  // NaN / inf in the sums (overflowing activations), a failed solve, or a non-finite solution: keep
  // the original rows, as the reference does.
  r.finite = ata.isfinite().all().item<bool>() && atb.isfinite().all().item<bool>();
  at::Tensor sol;
  if (r.finite) {
    try {
      sol = std::get<0>(at::linalg_lstsq(ata, atb, c10::nullopt, c10::string_view(driver))).t();  // [k, F]
      r.finite = sol.isfinite().all().item<bool>();
    } catch (const c10::Error&) {
      r.finite = false;
    }
  }
  if (r.finite) r.weight.index_copy_(0, idx.to(w.device()), sol.to(w.device(), w.scalar_type()));
  return r;
}

}  // namespace lopper
