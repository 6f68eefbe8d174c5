// osscar_select against plain, from-scratch versions of its rules (fp64), on small random layers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <limits>
#include <string>

#include "lopper/prune/width/osscar_solver.h"
#include "lopper/util/error.h"

namespace lopper {
namespace {

struct Layer {
  at::Tensor X;  // [tokens, F] inputs with correlated columns
  at::Tensor B;  // [F, C]
  at::Tensor G;  // [F, F] damped Gram, fp64
  double damp = 0;
};

// Correlated inputs: a few shared factors plus independent noise per column, columns of unequal scale.
Layer make_layer(int64_t tokens, int64_t F, int64_t C, uint64_t seed) {
  at::manual_seed(seed);
  auto opt = at::TensorOptions().dtype(at::kDouble);
  Layer l;
  at::Tensor factors = at::randn({tokens, 4}, opt), mix = at::randn({4, F}, opt);
  at::Tensor scale = at::rand({F}, opt) + 0.2;
  l.X = (factors.mm(mix) + 0.5 * at::randn({tokens, F}, opt)) * scale;
  l.B = at::randn({F, C}, opt);
  l.G = l.X.t().mm(l.X);
  l.damp = 0.01 * l.G.diagonal().mean().item<double>();
  l.G.diagonal().add_(l.damp);
  return l;
}

std::vector<int64_t> without(const std::vector<int64_t>& s, size_t i) {
  auto r = s;
  r.erase(r.begin() + static_cast<long>(i));
  return r;
}

at::Tensor idx(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

// The OSSCAR objective at the exact refit on S: f(S) = -1/2 (G B)_S^T (G_SS)^-1 (G B)_S, summed over
// outputs; ||X B - X_S W_S||^2 (damped) equals 2 f(S) plus a constant.
double objective(const Layer& l, const std::vector<int64_t>& S) {
  at::Tensor GY = l.G.mm(l.B).index_select(0, idx(S));
  at::Tensor G_SS = l.G.index_select(0, idx(S)).index_select(1, idx(S));
  return -0.5 * (GY * at::linalg_solve(G_SS, GY)).sum().item<double>();
}

// Plain canonical greedy: each step, refit from scratch on every S \ {j} and drop the j with the
// smallest objective (ties: lower index). O(F^4) per step, fine for F = 32.
std::vector<int64_t> plain_canonical_order(const Layer& l, int64_t keep) {
  std::vector<int64_t> S(l.G.size(0)), order;
  for (size_t i = 0; i < S.size(); ++i) S[i] = static_cast<int64_t>(i);
  while (static_cast<int64_t>(S.size()) > keep) {
    size_t best = 0;
    double best_obj = std::numeric_limits<double>::infinity();
    for (size_t i = 0; i < S.size(); ++i) {
      double o = objective(l, without(S, i));
      if (o < best_obj) best_obj = o, best = i;
    }
    order.push_back(S[best]);
    S = without(S, best);
  }
  return order;
}

// Plain version of Quark's rule. Its working matrix after removing a set is the Schur complement of U
// (U^T U = G^-1, U upper), whose remaining block equals ((U^-1)_RR)^-1; W_R = that block times (G B)_R.
// Each step recomputes both from scratch.
std::vector<int64_t> plain_quark_order(const Layer& l, int64_t keep) {
  at::Tensor U = at::linalg_cholesky(at::linalg_inv(l.G), /*upper=*/true);
  at::Tensor V = at::linalg_inv(U), GY = l.G.mm(l.B);
  std::vector<int64_t> S(l.G.size(0)), order;
  for (size_t i = 0; i < S.size(); ++i) S[i] = static_cast<int64_t>(i);
  while (static_cast<int64_t>(S.size()) > keep) {
    at::Tensor M = at::linalg_inv(V.index_select(0, idx(S)).index_select(1, idx(S)));  // [|S|, |S|]
    at::Tensor W = M.mm(GY.index_select(0, idx(S)));
    at::Tensor sal = W.square().sum(1) / (2 * M.diagonal());
    const auto best = static_cast<size_t>(sal.argmin().item<int64_t>());
    order.push_back(S[best]);
    S = without(S, best);
  }
  return order;
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (auto x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

double max_rel_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).abs().max() / b.to(at::kDouble).abs().max()).item<double>();
}

TEST(OsscarSolver, RefitEqualsDampedLeastSquaresOnKeptChannels) {
  Layer l = make_layer(400, 48, 20, 1);
  for (auto v : {OsscarVariant::Canonical, OsscarVariant::Quark}) {
    for (auto dtype : {at::kDouble, at::kFloat}) {
      auto s = osscar_select(l.G.to(dtype), l.B.to(dtype), 16, v);
      ASSERT_EQ(s.kept.size(), 16u);
      // GB = (X^T X + damp I) B, so W_S minimises ||X_S W - X B||^2 + damp ||W - B_S||^2: a plain
      // least-squares problem on X_S with sqrt(damp) I rows appended, solved independently in fp64.
      at::Tensor XS = l.X.index_select(1, idx(s.kept));  // [tokens, k]
      at::Tensor I = at::eye(16, at::kDouble) * std::sqrt(l.damp);
      at::Tensor A = at::cat({XS, I}, 0);
      at::Tensor Y = at::cat({l.X.mm(l.B), std::sqrt(l.damp) * l.B.index_select(0, idx(s.kept))}, 0);
      at::Tensor want = std::get<0>(at::linalg_lstsq(A, Y));  // [k, C]
      const double d = max_rel_diff(s.weight, want);
      std::printf("refit %s %s: max |W_S - lstsq| / max |lstsq| = %.3g\n", osscar_variant_name(v),
                  dtype == at::kDouble ? "fp64" : "fp32", d);
      EXPECT_LT(d, dtype == at::kDouble ? 1e-10 : 2e-4);
    }
  }
}

TEST(OsscarSolver, CanonicalGreedyMatchesPlainRefitSearch) {
  for (uint64_t seed : {2, 3, 4}) {
    Layer l = make_layer(300, 32, 12, seed);
    const int64_t keep = 8;
    auto want = plain_canonical_order(l, keep);
    auto s64 = osscar_select(l.G, l.B, keep, OsscarVariant::Canonical);
    EXPECT_EQ(s64.removed, want) << "seed " << seed << " fp64";
    EXPECT_EQ(s64.zero_rows_removed, 0);
    auto s32 = osscar_select(l.G.to(at::kFloat), l.B.to(at::kFloat), keep, OsscarVariant::Canonical);
    EXPECT_EQ(s32.removed, want) << "seed " << seed << " fp32";
    std::vector<int64_t> kept;
    for (int64_t q = 0; q < 32; ++q)
      if (std::find(want.begin(), want.end(), q) == want.end()) kept.push_back(q);
    EXPECT_EQ(s64.kept, kept);
  }
}

TEST(OsscarSolver, QuarkGreedyMatchesPlainSchurComplementRule) {
  for (uint64_t seed : {2, 3, 4}) {
    Layer l = make_layer(300, 32, 12, seed);
    auto want = plain_quark_order(l, 8);
    EXPECT_EQ(osscar_select(l.G, l.B, 8, OsscarVariant::Quark).removed, want) << "seed " << seed;
  }
}

TEST(OsscarSolver, VariantsDifferOnCorrelatedInputs) {
  Layer l = make_layer(300, 32, 12, 5);
  auto c = osscar_select(l.G, l.B, 16, OsscarVariant::Canonical);
  auto q = osscar_select(l.G, l.B, 16, OsscarVariant::Quark);
  EXPECT_NE(c.kept, q.kept);
  std::vector<int64_t> only_c, only_q;
  std::set_difference(c.kept.begin(), c.kept.end(), q.kept.begin(), q.kept.end(), std::back_inserter(only_c));
  std::set_difference(q.kept.begin(), q.kept.end(), c.kept.begin(), c.kept.end(), std::back_inserter(only_q));
  const double ec = osscar_relative_error(l.G, l.damp, l.B, c), eq = osscar_relative_error(l.G, l.damp, l.B, q);
  std::printf("correlated: kept only by canonical %s, only by quark %s; relative error canonical %.4f quark %.4f\n",
              join(only_c).c_str(), join(only_q).c_str(),
              ec, eq);
  // The first step of canonical is the exact best single removal, so its first error is the smallest.
  EXPECT_EQ(c.removed[0], plain_canonical_order(l, 31)[0]);
}

TEST(OsscarSolver, VariantsAgreeOnScaledIdentityGram) {
  // G = c I: G^-1 = I / c and U = I / sqrt(c) are diagonal, so W = B (canonical) or sqrt(c) B (quark),
  // the saliencies are c/2 ||B_q||^2 and c^1.5 / 2 ||B_q||^2 (the same order), and no update touches
  // another channel's row: both remove channels in increasing ||B_q||.
  at::manual_seed(6);
  const double c = 3.0;
  at::Tensor G = c * at::eye(24, at::kDouble), B = at::randn({24, 10}, at::kDouble);
  auto can = osscar_select(G, B, 8, OsscarVariant::Canonical);
  auto qk = osscar_select(G, B, 8, OsscarVariant::Quark);
  EXPECT_EQ(can.removed, qk.removed);
  auto by_norm = B.norm(2, {1}).argsort();
  for (size_t i = 0; i < can.removed.size(); ++i) EXPECT_EQ(can.removed[i], by_norm[i].item<int64_t>());
  EXPECT_LT(max_rel_diff(can.weight, B.index_select(0, idx(can.kept))), 1e-12);  // refit of independent inputs: B_S
}

TEST(OsscarSolver, ZeroRowsGoFirstAndTiesToLowerIndex) {
  Layer l = make_layer(300, 16, 6, 7);
  l.B.select(0, 9).zero_();
  l.B.select(0, 3).zero_();
  for (auto v : {OsscarVariant::Canonical, OsscarVariant::Quark}) {
    auto s = osscar_select(l.G, l.B, 10, v);
    ASSERT_GE(s.removed.size(), 2u);
    EXPECT_EQ(s.zero_rows_removed, 2);
    EXPECT_EQ(s.removed[0], 3);
    EXPECT_EQ(s.removed[1], 9);
  }
  // Identical channels (same Gram, same weights) tie; the lower index goes first.
  at::Tensor G = at::eye(6, at::kDouble), B = at::ones({6, 3}, at::kDouble);
  EXPECT_EQ(osscar_select(G, B, 3, OsscarVariant::Canonical).removed, (std::vector<int64_t>{0, 1, 2}));
}

TEST(OsscarSolver, RejectsASingularGramAndUnknownVariants) {
  at::Tensor G = at::zeros({8, 8}), B = at::randn({8, 4});
  EXPECT_THROW(osscar_select(G, B, 4, OsscarVariant::Canonical), InputError);
  try {
    parse_osscar_variant("fast");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--variant"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lopper
