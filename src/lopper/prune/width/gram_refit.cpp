#include "lopper/prune/width/gram_refit.h"

#include <ATen/ATen.h>

#include <fmt/ranges.h>

#include <cmath>

#include "lopper/util/error.h"

namespace lopper {

GramRefitResult gram_refit(const at::Tensor& g, const at::Tensor& b, const std::vector<int64_t>& kept, double damp) {
  check(g.dim() == 2 && g.size(0) == g.size(1) && b.dim() == 2 && b.size(0) == g.size(0),
        "internal: gram_refit shapes G [{}] and B [{}]", fmt::join(g.sizes(), ", "), fmt::join(b.sizes(), ", "));
  check(!kept.empty(), "internal: gram_refit with no kept inputs");
  auto G = g.to(at::kDouble);                       // [F, F]
  auto B = b.to(G.device(), at::kDouble);           // [F, C]
  auto idx = at::tensor(kept, at::TensorOptions().dtype(at::kLong)).to(G.device());
  auto gb = G.matmul(B);                            // [F, C]
  auto gss = G.index_select(0, idx).index_select(1, idx).clone();  // [S, S]
  const double lambda = damp * G.diagonal().mean().item<double>();
  gss.diagonal().add_(lambda);
  auto rhs = gb.index_select(0, idx);               // [S, C]
  auto w = at::linalg_solve(gss, rhs);              // [S, C]
  check(at::isfinite(w).all().item<bool>(), "least-squares refit failed (singular inputs); try a larger --damp");
  // ||X_S W - X B||^2 = tr(W^T G_SS W) - 2 tr(W^T (G B)_S) + tr(B^T G B), with the undamped G.
  auto g_ss = G.index_select(0, idx).index_select(1, idx);
  const double total = (B * gb).sum().item<double>();
  const double err = (w * g_ss.matmul(w)).sum().item<double>() - 2 * (w * rhs).sum().item<double>() + total;
  return {w, total > 0 ? std::max(0.0, err) / total : 0.0};
}

}  // namespace lopper
