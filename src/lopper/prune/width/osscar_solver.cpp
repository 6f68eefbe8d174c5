#include "lopper/prune/width/osscar_solver.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "lopper/util/error.h"

namespace lopper {

namespace {

at::Tensor index_tensor(const std::vector<int64_t>& v, const at::Tensor& like) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong)).to(like.device());
}

// Lower Cholesky factor of a symmetric positive definite matrix; InputError when it fails.
at::Tensor cholesky_or_fail(const at::Tensor& A, const char* what) {
  auto [L, info] = at::linalg_cholesky_ex(A);
  check(info.item<int64_t>() == 0, "{} is not numerically positive definite (Cholesky failed)", what);
  return L;
}

double pivot(const at::Tensor& Hinv, int64_t q) {
  const double d = Hinv[q][q].item<double>();
  check(d > 0 && std::isfinite(d), "the inverse Gram lost positive definiteness at channel {} (diagonal {})", q, d);
  return d;
}

// Hinv -= Hinv[:,q] Hinv[q,:] / Hinv[q,q], then row and column q zeroed. For canonical (Hinv =
// (G_RR)^-1 on the remaining set R, zero elsewhere) this is exactly (G_{R-q,R-q})^-1.
void downdate(at::Tensor& Hinv, int64_t q, double d) {
  at::Tensor h = Hinv.select(1, q).clone();     // [F]
  at::Tensor hrow = Hinv.select(0, q).clone();  // [F] (the column itself for canonical; U's row for quark)
  Hinv.addr_(h, hrow, 1.0, -1.0 / d);
  Hinv.select(0, q).zero_();
  Hinv.select(1, q).zero_();
}

// Removes channel q from the working state: the OBS update of W ([F, C]), then of Hinv ([F, F]).
void eliminate(at::Tensor& W, at::Tensor& Hinv, int64_t q) {
  const double d = pivot(Hinv, q);
  W.addr_(Hinv.select(1, q), W.select(0, q).clone(), 1.0, -1.0 / d);
  W.select(0, q).zero_();
  downdate(Hinv, q, d);
}

}  // namespace

OsscarVariant parse_osscar_variant(const std::string& s) {
  if (s == "canonical") return OsscarVariant::Canonical;
  if (s == "quark") return OsscarVariant::Quark;
  fail("--variant \"{}\" is not an osscar variant (canonical | quark)", s);
}

const char* osscar_variant_name(OsscarVariant v) { return v == OsscarVariant::Quark ? "quark" : "canonical"; }

OsscarSolution osscar_select(const at::Tensor& G, const at::Tensor& B, int64_t keep, OsscarVariant v) {
  check(G.dim() == 2 && G.size(0) == G.size(1) && B.dim() == 2 && B.size(0) == G.size(0),
        "internal: osscar_select needs G [F, F] and B [F, C] with the same F");
  check(G.scalar_type() == B.scalar_type() && at::isFloatingType(G.scalar_type()),
        "internal: osscar_select needs G and B of one floating dtype");
  const int64_t F = G.size(0);
  check(keep >= 1 && keep <= F, "internal: keeping {} of {} channels", keep, F);

  at::Tensor GY = G.mm(B);  // [F, C]
  at::Tensor Ginv = at::cholesky_inverse(cholesky_or_fail(G, "the damped Gram matrix"));  // [F, F]
  at::Tensor Hinv = Ginv;  // [F, F]: G^-1 (canonical) or the upper factor U of G^-1 (quark)
  if (v == OsscarVariant::Quark) {
    auto [U, info] = at::linalg_cholesky_ex(Ginv, /*upper=*/true);
    check(info.item<int64_t>() == 0, "the inverse of the damped Gram matrix is not numerically positive definite");
    Hinv = U;
  }

  OsscarSolution s;
  std::vector<bool> alive(F, true);
  at::Tensor alive_mask = at::ones({F}, G.options().dtype(at::kBool));  // [F]

  // Zero rows of B first (at most F - keep of them, lowest index first).
  at::Tensor zero_rows = (B == 0).all(1).nonzero().flatten().cpu();  // [z]
  const int64_t n_zero = std::min<int64_t>(zero_rows.size(0), F - keep);
  for (int64_t i = 0; i < n_zero; ++i) {
    const int64_t q = zero_rows[i].item<int64_t>();
    if (v == OsscarVariant::Canonical) {
      downdate(Hinv, q, pivot(Hinv, q));  // exact removal; W (= B) has row q zero, nothing to propagate
    } else {
      Hinv.select(0, q).zero_();
      Hinv.select(1, q).zero_();
    }
    alive[q] = false;
    alive_mask[q] = false;
    s.removed.push_back(q);
  }
  s.zero_rows_removed = n_zero;

  at::Tensor W = Hinv.mm(GY);  // [F, C]; canonical: B (restricted to the remaining channels' refit)
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t step = n_zero; step < F - keep; ++step) {
    at::Tensor sal = W.square().sum(1) / (2.0 * Hinv.diagonal());  // [F]
    sal.masked_fill_(alive_mask.logical_not(), inf);
    const int64_t q = sal.argmin().item<int64_t>();  // first minimum: ties go to the lower index
    check(alive[q], "osscar: no finite saliency left at step {} (non-finite weights or Gram?)", step);
    eliminate(W, Hinv, q);
    alive[q] = false;
    alive_mask[q] = false;
    s.removed.push_back(q);
  }

  for (int64_t q = 0; q < F; ++q)
    if (alive[q]) s.kept.push_back(q);
  // Exact refit on the kept set: W_S = (G_SS)^-1 (G B)_S.
  at::Tensor S = index_tensor(s.kept, G);
  at::Tensor G_SS = G.index_select(0, S).index_select(1, S);  // [k, k]
  at::Tensor L = cholesky_or_fail(G_SS, "the damped Gram matrix of the kept channels");
  s.weight = at::cholesky_solve(GY.index_select(0, S), L);  // [k, C]
  return s;
}

double osscar_relative_error(const at::Tensor& G, double damp_added, const at::Tensor& B, const OsscarSolution& s) {
  at::Tensor S = index_tensor(s.kept, G);
  at::Tensor D = B.clone();  // [F, C]: B - (W_S on the kept rows, 0 elsewhere)
  D.index_copy_(0, S, B.index_select(0, S) - s.weight);
  auto quad = [&](const at::Tensor& M) {  // tr(M^T (G - damp I) M)
    return (M * G.mm(M)).sum().item<double>() - damp_added * M.square().sum().item<double>();
  };
  const double dense = quad(B);
  return dense > 0 ? quad(D) / dense : 0.0;
}

}  // namespace lopper
