// SPRINT's pieces against closed forms written here: the least-squares refit of down_proj, the
// sensitivity metrics (plain loops), and the rank-sum ordering.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "lopper/prune/search/sprint_refit.h"
#include "lopper/prune/search/sprint_scores.h"
#include "lopper/util/error.h"

namespace lopper {
namespace {

struct RefitData {
  at::Tensor xp, target, w;  // [tokens, F], [tokens, C], [C, F]
};

RefitData refit_data(int64_t tokens, int64_t F, int64_t C, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  RefitData d;
  d.xp = at::randn({tokens, F}, gen, at::kFloat);
  d.w = at::randn({C, F}, gen, at::kFloat) * 0.1;
  d.target = d.xp.matmul(d.w.t()) + 0.3 * at::randn({tokens, C}, gen, at::kFloat);
  return d;
}

RefitAccumulator accumulate(const RefitData& d, at::ScalarType dt) {
  RefitAccumulator acc(d.xp.size(1), d.target.size(1), dt, c10::Device(c10::kCPU));
  const int64_t half = d.xp.size(0) / 2;  // two micro-batches, shaped [n, T, .] like the forward's
  acc.add(d.xp.narrow(0, 0, half).view({2, half / 2, -1}), d.target.narrow(0, 0, half).view({2, half / 2, -1}));
  acc.add(d.xp.narrow(0, half, d.xp.size(0) - half), d.target.narrow(0, half, d.xp.size(0) - half));
  return acc;
}

TEST(SprintRefit, EqualsClosedFormLeastSquares) {
  auto d = refit_data(400, 24, 16, 1);
  // Closed form in fp64: W^T = (X^T X)^{-1} X^T Y.
  auto x = d.xp.to(at::kDouble), y = d.target.to(at::kDouble);
  auto expect = at::linalg_solve(x.t().matmul(x), x.t().matmul(y)).t();  // [C, F]
  for (auto dt : {at::kFloat, at::kDouble}) {
    auto acc = accumulate(d, dt);
    EXPECT_TRUE(at::allclose(acc.gram().to(at::kDouble), x.t().matmul(x), 1e-5, 1e-3));
    auto r = solve_refit(acc, d.w, 1.0, 0.0);
    EXPECT_TRUE(r.finite);
    EXPECT_EQ(r.rows_refit, 16);
    const double err = (r.weight.to(at::kDouble) - expect).abs().max().item<double>();
    // fp64 sums: the fp32 rounding of the result (seen 1e-8); fp32 sums: seen 3e-7.
    EXPECT_LT(err, dt == at::kDouble ? 1e-7 : 2e-6) << "dtype " << c10::toString(dt);
    EXPECT_EQ(r.weight.scalar_type(), at::kFloat);
  }
}

TEST(SprintRefit, RowSelectionAndDamping) {
  auto d = refit_data(300, 20, 12, 2);
  auto acc = accumulate(d, at::kDouble);
  auto x = d.xp.to(at::kDouble), y = d.target.to(at::kDouble), w = d.w.to(at::kDouble);
  // Rows by sum_i |W_ri| * ||X_:,i||: the int(12 * 0.5) = 6 largest.
  auto score = (w.abs() * x.pow(2).sum(0).sqrt().unsqueeze(0)).sum(1);
  auto top = std::get<1>(score.topk(6));
  auto r = solve_refit(acc, d.w, 0.5, 0.0);
  EXPECT_EQ(r.rows_refit, 6);
  EXPECT_TRUE(r.rows.index_select(0, top).all().item<bool>());
  auto closed = at::linalg_solve(x.t().matmul(x), x.t().matmul(y)).t();
  for (int64_t row = 0; row < 12; ++row) {
    auto got = r.weight[row].to(at::kDouble);
    auto want = r.rows[row].item<bool>() ? closed[row] : w[row];  // other rows keep the original
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-7) << "row " << row;  // fp32 rounding of fp64
  }
  // Damping d: the stacked system [A; dI] W^T = [B; d W0^T] has the normal equations
  // (A^T A + d^2 I) W^T = A^T B + d^2 W0^T with A = X^T X, B = X^T Y.
  const double damp = 50.0;
  auto a = x.t().matmul(x), b = x.t().matmul(y);
  auto eye = at::eye(20, a.options());
  auto want = at::linalg_solve(a.t().matmul(a) + damp * damp * eye, a.t().matmul(b) + damp * damp * w.t()).t();
  auto rd = solve_refit(acc, d.w, 1.0, damp);
  EXPECT_LT((rd.weight.to(at::kDouble) - want).abs().max().item<double>(), 1e-7);
}

TEST(SprintRefit, NonFiniteKeepsOriginalAndBadOptionsFail) {
  auto d = refit_data(100, 8, 6, 3);
  d.xp[5][2] = std::numeric_limits<float>::quiet_NaN();
  auto acc = accumulate(d, at::kFloat);
  auto r = solve_refit(acc, d.w, 1.0, 0.0);
  EXPECT_FALSE(r.finite);
  EXPECT_TRUE(at::equal(r.weight, d.w));
  auto good = accumulate(refit_data(100, 8, 6, 4), at::kFloat);
  EXPECT_THROW(solve_refit(good, d.w, 0.0, 0.0), InputError);
  EXPECT_THROW(solve_refit(good, d.w, 0.1, 0.0), InputError);  // int(6 x 0.1) = 0 rows
  EXPECT_THROW(solve_refit(good, d.w, 1.0, -1.0), InputError);
}

TEST(SprintRefit, RankDeficientSystemsGiveTheSameAnswerEveryTime) {
  // Fewer tokens than inputs: X^T X is singular. (libtorch 1.13's default CPU driver, gelsy, gave
  // answers differing by 1e-7 from call to call here; the refit must not.)
  auto d = refit_data(48, 96, 32, 7);
  auto acc = accumulate(d, at::kFloat);
  auto a = solve_refit(acc, d.w, 1.0, 0.0);
  EXPECT_TRUE(a.finite);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(at::equal(solve_refit(acc, d.w, 1.0, 0.0).weight, a.weight));
  // Still a least-squares solution: the residual's gradient X^T (X W^T - Y) vanishes.
  auto x = d.xp.to(at::kDouble), y = d.target.to(at::kDouble);
  auto grad = x.t().matmul(x.matmul(a.weight.to(at::kDouble).t()) - y);
  EXPECT_LT(grad.abs().max().item<double>(), 1e-2 * x.t().matmul(y).abs().max().item<double>());
}

// One row's distance, written out element by element.
double plain_distance(const std::string& dist, const std::vector<double>& o, const std::vector<double>& c) {
  double d1 = 0, n1 = 0, d2 = 0, n2 = 0, dot = 0, nc = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    d1 += std::fabs(o[i] - c[i]);
    n1 += std::fabs(o[i]);
    d2 += (o[i] - c[i]) * (o[i] - c[i]);
    n2 += o[i] * o[i];
    dot += o[i] * c[i];
    nc += c[i] * c[i];
  }
  if (dist == "l1" || dist == "l2") return d1 / n1;
  if (dist == "l2true") return std::sqrt(d2) / std::sqrt(n2);
  return 1 - dot / (std::sqrt(n2) * std::sqrt(nc));
}

TEST(SprintScores, MetricsMatchPlainLoops) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const int64_t n = 2, T = 3, C = 4;
  auto o = at::randn({n, T, C}, gen, at::kFloat), c = o + 0.2 * at::randn({n, T, C}, gen, at::kFloat);
  auto ao = o.accessor<float, 3>(), ac = c.accessor<float, 3>();
  for (const std::string dist : {"l1", "l2", "l2true", "cos"})
    for (const std::string norm : {"sentence", "token", "channel"}) {
      double want = 0;
      auto row = [&](auto pick, int64_t len) {
        std::vector<double> ro, rc;
        for (int64_t k = 0; k < len; ++k) {
          auto [i, t, ch] = pick(k);
          ro.push_back(ao[i][t][ch]);
          rc.push_back(ac[i][t][ch]);
        }
        want += plain_distance(dist, ro, rc);
      };
      for (int64_t i = 0; i < n; ++i) {
        if (norm == "sentence") row([&](int64_t k) { return std::tuple{i, k / C, k % C}; }, T * C);
        if (norm == "token")
          for (int64_t t = 0; t < T; ++t) row([&](int64_t k) { return std::tuple{i, t, k}; }, C);
        if (norm == "channel")
          for (int64_t ch = 0; ch < C; ++ch) row([&](int64_t k) { return std::tuple{i, k, ch}; }, T);
      }
      const double got = sensitivity_sum({dist, norm}, o, c);
      EXPECT_NEAR(got, want, 1e-5 * std::max(1.0, std::fabs(want))) << dist << "_" << norm;
    }
  // The reference's "l2" is a relative L1 error: the same numbers as l1.
  EXPECT_DOUBLE_EQ(sensitivity_sum({"l2", "sentence"}, o, c), sensitivity_sum({"l1", "sentence"}, o, c));
  EXPECT_NE(sensitivity_sum({"l2", "sentence"}, o, c), sensitivity_sum({"l2true", "sentence"}, o, c));
}

TEST(SprintScores, ParseAndRankSum) {
  auto ms = parse_sensitivity_metrics("l2_sentence, cos_token");
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[1].name(), "cos_token");
  EXPECT_THROW(parse_sensitivity_metrics("l3_sentence"), InputError);
  EXPECT_THROW(parse_sensitivity_metrics("l2_word"), InputError);
  EXPECT_THROW(parse_sensitivity_metrics("l2"), InputError);
  // One metric: the order of score x weight, ties to the lower index.
  EXPECT_EQ(rank_by_metrics({{3, 1, 2, 1}}, {1, 1, 1, 1}), (std::vector<int>{1, 3, 2, 0}));
  // Latency-aware: item 0's score halves against item 1's.
  EXPECT_EQ(rank_by_metrics({{2, 1.5}}, {0.5, 1}), (std::vector<int>{0, 1}));
  // Two metrics: ranks (0,1,2) + (2,0,1) = (2,1,3).
  EXPECT_EQ(rank_by_metrics({{1, 2, 3}, {9, 1, 5}}, {1, 1, 1}), (std::vector<int>{1, 0, 2}));
  // NaN sorts last.
  EXPECT_EQ(rank_by_metrics({{std::nan(""), 1}}, {1, 1}), (std::vector<int>{1, 0}));
}

}  // namespace
}  // namespace lopper
