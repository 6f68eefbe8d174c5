// Sparsity on hand-made numbers: magnitude and Wanda masks computed by hand, SparseGPT against the
// closed-form OBS update, lazy batch updates against immediate ones, the allocation formulas (ATP,
// OWL, AlphaPruning) and the option parsers.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "lopper/prune/sparsity.h"
#include "lopper/prune/sparsity_allocation.h"
#include "lopper/util/error.h"

namespace lopper {
namespace {

at::Tensor mat(std::vector<float> v, int64_t rows, int64_t cols) {
  return at::tensor(v, at::kFloat).reshape({rows, cols}).clone();
}

// Positions of the zeros of each row, e.g. {{0, 2}, {1}}.
std::vector<std::vector<int64_t>> zero_positions(const at::Tensor& w) {
  std::vector<std::vector<int64_t>> out(w.size(0));
  auto a = w.accessor<float, 2>();
  for (int64_t r = 0; r < w.size(0); ++r)
    for (int64_t c = 0; c < w.size(1); ++c)
      if (a[r][c] == 0.0f) out[r].push_back(c);
  return out;
}

using Rows = std::vector<std::vector<int64_t>>;

TEST(SparsityMagnitude, LowestOverTheWholeMatrixTiesToLowerIndex) {
  c10::InferenceMode guard;
  // |W| sorted: 0.05 (flat 7), 0.1 (1), 0.1 (4), 0.2 (3), 0.2 (9), 0.3 (2) | 0.3 (11), ...
  auto w = mat({0.5f, -0.1f, 0.3f, -0.2f,  //
                0.1f, 0.9f, -0.4f, 0.05f,  //
                -0.7f, 0.2f, 0.6f, -0.3f},
               3, 4);
  auto m = make_sparsity_method("magnitude");
  auto a = w.clone();
  m->prune(a, nullptr, zero_count(12, 0.5), {}, {});
  EXPECT_EQ(zero_positions(a), (Rows{{1, 2, 3}, {0, 3}, {1}}));  // -0.3 at (2, 3) kept: tie, higher index
  EXPECT_EQ(a[2][3].item<float>(), -0.3f);
  auto b = w.clone();
  m->prune(b, nullptr, 0, NMPattern{2, 4}, {});
  EXPECT_EQ(zero_positions(b), (Rows{{1, 3}, {0, 3}, {1, 3}}));
}

// W [4, 8] and activation norms ||X_j|| = {8, 4, 2, 1, 1, 2, 4, 8}; scores |W_ij| * ||X_j||:
//   row 0: 8 8 6 4 | 5 12 28 64      row 1: 64 28 12 5 | 4 6 8 8
//   row 2: 8 4 2 1 | 1  2  4  8      row 3: 24  2  2 4 | 2 2 16 24
struct WandaCase {
  at::Tensor w = mat({1, -2, 3, -4, 5, -6, 7, -8,       //
                      8, 7, -6, 5, -4, 3, -2, 1,        //
                      1, 1, 1, 1, 1, 1, 1, 1,           //
                      -3, 0.5, -1, 4, -2, 1, -4, 3},    //
                     4, 8);
  InputStats stats;
  WandaCase() {
    auto norms = at::tensor(std::vector<float>{8, 4, 2, 1, 1, 2, 4, 8});
    stats.sq_sum = norms.square();  // scaler_row = ||X_j||^2 (over nsamples, a common factor)
    stats.nsamples = 1;
  }
};

TEST(SparsityWanda, HandComputedFourByEight) {
  c10::InferenceMode guard;
  auto m = make_sparsity_method("wanda");
  {  // 50%: the 4 lowest scores of every row (ties: lower column)
    WandaCase c;
    m->prune(c.w, &c.stats, zero_count(32, 0.5), {}, {});
    EXPECT_EQ(zero_positions(c.w), (Rows{{0, 2, 3, 4}, {3, 4, 5, 6}, {2, 3, 4, 5}, {1, 2, 4, 5}}));
  }
  {  // 17 zeros: 4 per row, and the 17th goes to the row whose 5th-lowest score is smallest
     // (rows 2 and 3 both have 4; the lower row wins) -> row 2, column 1.
    WandaCase c;
    m->prune(c.w, &c.stats, 17, {}, {});
    EXPECT_EQ(zero_positions(c.w), (Rows{{0, 2, 3, 4}, {3, 4, 5, 6}, {1, 2, 3, 4, 5}, {1, 2, 4, 5}}));
  }
  {  // 2:4 within each group of 4 consecutive inputs
    WandaCase c;
    m->prune(c.w, &c.stats, 0, NMPattern{2, 4}, {});
    EXPECT_EQ(zero_positions(c.w), (Rows{{2, 3, 4, 5}, {2, 3, 4, 5}, {2, 3, 4, 5}, {1, 2, 4, 5}}));
  }
  {  // Magnitude on the same matrix differs: row 2 (all ones) loses every weight.
    WandaCase c;
    make_sparsity_method("magnitude")->prune(c.w, nullptr, 16, {}, {});
    EXPECT_EQ(zero_positions(c.w)[2].size(), 8u);
  }
}

// SparseGPT on one row, one block, one weight pruned: the result must be the OBS update of the
// problem restricted to columns q.. (SparseGPT's left-to-right order fixes earlier columns):
//   w'[:q] = w[:q], w'[q:] = w[q:] - w_q / [Hf^-1]_00 * Hf^-1[0, :], Hf = (H + damp I)[q:, q:],
// and for q = 0 this is the textbook OBS update w - w_q / [H^-1]_qq * H^-1[:, q].
at::Tensor obs_expected(const at::Tensor& w, const at::Tensor& Hd, int64_t q) {
  auto Hinv = at::linalg_inv(Hd.slice(0, q).slice(1, q).to(at::kDouble));  // [n-q, n-q]
  auto out = w.to(at::kDouble).clone();
  out.slice(0, q) -= w[q].item<double>() / Hinv[0][0].item<double>() * Hinv[0];
  return out;
}

TEST(SparsityGpt, EqualsClosedFormObsUpdate) {
  c10::InferenceMode guard;
  at::manual_seed(3);
  const int64_t n = 6;
  auto X = at::randn({40, n}, at::kDouble);
  auto H = (2.0 / 40) * X.t().mm(X);                     // SPD
  auto Hd = H + 0.01 * H.diagonal().mean() * at::eye(n, at::kDouble);
  auto m = make_sparsity_method("sparsegpt");
  for (int64_t q : {0, 3}) {
    std::vector<float> v = {0.9f, -1.2f, 0.7f, 1.1f, -0.8f, 1.3f};
    v[q] = 0.05f;  // the clearly least salient weight
    auto w = mat(v, 1, n);
    InputStats st;
    st.hessian = H.to(at::kFloat).clone();
    st.nsamples = 40;
    auto got = w.clone();
    m->prune(got, &st, 1, {}, {});
    auto want = obs_expected(w[0], Hd, q);
    EXPECT_EQ(got[0][q].item<float>(), 0.0f);
    EXPECT_LT((got[0].to(at::kDouble) - want).abs().max().item<double>(), 1e-5) << "q = " << q;
    // The case discriminates: plain masking (no update) would miss the expected values by far more
    // than the tolerance.
    EXPECT_GT((want - w[0].to(at::kDouble)).slice(0, q + 1).abs().max().item<double>(), 1e-3);
  }
}

TEST(SparsityGpt, LazyBlockUpdatesEqualImmediateUpdates) {
  c10::InferenceMode guard;
  at::manual_seed(5);
  const int64_t rows = 8, cols = 32;
  auto X = at::randn({200, cols});
  auto w = at::randn({rows, cols});
  auto m = make_sparsity_method("sparsegpt");
  // N:M masks do not depend on the block size, so blocks of 4 (lazy updates across 8 blocks) and
  // one block of 32 (every update immediate) must agree to rounding.
  // The Hessian statistics of the 200 input rows of X, as the layer pass would collect them.
  auto stats = [&] {
    InputStats st;
    st.hessian = (2.0 / 200) * X.t().mm(X);
    st.nsamples = 200;
    return st;
  };
  std::vector<at::Tensor> out;
  for (int64_t block : {4, 32}) {
    InputStats st = stats();
    SparsityOptions o;
    o.sparsegpt_block = block;
    auto a = w.clone();
    m->prune(a, &st, 0, NMPattern{2, 4}, o);
    EXPECT_TRUE(has_nm_pattern(a, {2, 4}));
    out.push_back(a);
  }
  EXPECT_TRUE(out[0].eq(0).equal(out[1].eq(0)));
  EXPECT_LT((out[0] - out[1]).abs().max().item<float>(), 1e-4);
  // Unstructured: exactly floor(s * numel) zeros, split over blocks by width.
  for (int64_t block : {4, 128}) {
    InputStats st = stats();
    SparsityOptions o;
    o.sparsegpt_block = block;
    auto a = w.clone();
    m->prune(a, &st, 77, {}, o);
    EXPECT_EQ(a.eq(0).sum().item<int64_t>(), 77) << "block " << block;
  }
}

TEST(SparsityGpt, DeadInputsAreZeroedAndSingularHessianIsDamped) {
  c10::InferenceMode guard;
  at::manual_seed(7);
  auto X = at::randn({50, 8});
  X.select(1, 2).zero_();  // input 2 never fires: H_22 = 0
  InputStats st;
  st.hessian = (2.0 / 50) * X.t().mm(X);
  st.nsamples = 50;
  auto w = at::randn({4, 8});
  make_sparsity_method("sparsegpt")->prune(w, &st, 16, {}, {});
  EXPECT_TRUE(w.select(1, 2).eq(0).all().item<bool>());
  EXPECT_EQ(w.eq(0).sum().item<int64_t>(), 16);
  EXPECT_TRUE(at::isfinite(w).all().item<bool>());
}

TEST(SparsityMasks, ZeroCountAndNmParser) {
  EXPECT_EQ(zero_count(10, 0.3), 3);  // 0.3 * 10 = 2.9999999999999996
  EXPECT_EQ(zero_count(7, 0.5), 3);
  EXPECT_EQ(zero_count(65536, 0.5), 32768);
  EXPECT_EQ(parse_nm("2:4").n, 2);
  EXPECT_EQ(parse_nm("4:8").m, 8);
  auto msg = [](const std::string& s) {
    try {
      parse_nm(s);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(msg("3:2"), "--nm 3:2: N must be < M");
  EXPECT_EQ(msg("4:4"), "--nm 4:4: N must be < M");
  EXPECT_EQ(msg("0:4"), "--nm 0:4: N must be at least 1");
  EXPECT_EQ(msg("2-4"), "--nm 2-4: expected N:M with whole numbers, e.g. 2:4");
}

TEST(SparsityAllocation, AtpProgressionAndLegalBound) {
  EXPECT_DOUBLE_EQ(atp_max_step(0.5, 14), 1.0 / 13);
  EXPECT_DOUBLE_EQ(atp_max_step(0.7, 11), 0.06);  // min(1.4, 0.6) / 10
  auto s = atp_layer_sparsities(0.7, 11, 0.06);   // at the bound: last layer exactly 1
  EXPECT_NEAR(s.front(), 0.4, 1e-12);
  EXPECT_NEAR(s.back(), 1.0, 1e-12);
  auto c = atp_candidates(0.5, 14, 10);
  ASSERT_EQ(c.size(), 10u);
  EXPECT_EQ(c.front(), 0.0);
  EXPECT_LT(c.back(), atp_max_step(0.5, 14));
  auto t = atp_layer_sparsities(0.5, 14, c.back());
  EXPECT_NEAR(std::accumulate(t.begin(), t.end(), 0.0) / 14, 0.5, 1e-12);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], c.back(), 1e-12);
  EXPECT_GT(t.front(), 0.0);
  EXPECT_LT(t.back(), 1.0);
}

TEST(SparsityAllocation, OwlMapping) {
  // D = 1, 2, 3 -> n = 0, 0.08, 0.16 (2 lambda range) -> sparsity = S - (n - mean n).
  auto s = owl_layer_sparsities({1, 2, 3}, 0.5, 0.08);
  EXPECT_NEAR(s[0], 0.58, 1e-12);
  EXPECT_NEAR(s[1], 0.50, 1e-12);
  EXPECT_NEAR(s[2], 0.42, 1e-12);
  auto u = owl_layer_sparsities({4, 4}, 0.6, 0.08);  // no spread: uniform
  EXPECT_DOUBLE_EQ(u[0], 0.6);
}

TEST(SparsityAllocation, AlphaPruningMappingAndHill) {
  auto s = alpha_sparsities({2, 3, 4}, {1, 1, 1}, 0.5, 0.3);
  EXPECT_NEAR(s[0], 0.35, 1e-12);
  EXPECT_NEAR(s[1], 0.50, 1e-12);
  EXPECT_NEAR(s[2], 0.65, 1e-12);
  auto w = alpha_sparsities({2, 3, 4}, {1, 1, 2}, 0.5, 0.3);  // parameter-weighted mean stays S
  EXPECT_NEAR((w[0] + w[1] + 2 * w[2]) / 4, 0.5, 1e-12);
  EXPECT_LT(w[0], w[1]);
  // alpha_mid on {1, 2, 4, 8}: xmin = 4 (index 2), n = 2: 1 + 2 / (ln 4 + ln 8 - 2 ln 4) = 1 + 2 / ln 2.
  EXPECT_NEAR(hill_alpha({1, 2, 4, 8}, "mid"), 1 + 2 / std::log(2.0), 1e-12);
  // Eigenvalues at the quantiles of a Pareto law with density ~ x^-3 (xmin 1): alpha_peak ~ 3.
  std::vector<double> e;
  for (int i = 0; i < 2000; ++i) e.push_back(std::pow(1.0 - (i + 0.5) / 2000.0, -0.5));
  std::sort(e.begin(), e.end());
  EXPECT_NEAR(hill_alpha(e, "peak"), 3.0, 0.15);
  EXPECT_NEAR(hill_alpha(e, "mid"), 3.0, 0.15);
}

}  // namespace
}  // namespace lopper
