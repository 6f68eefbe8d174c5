// The candidate-evaluation engine is an optimization only: for random sets of removed sublayers its
// metric (NLL and KL) equals a plain full recompute in fp32 to 1e-6 relative, whatever boundaries it
// caches (all, K, none), after the base moves, on row subsets and cut rows; bounded evaluation only
// gives up on candidates that are really above the bound.
#include <gtest/gtest.h>

#include <random>

#include "lopper/prune/search/candidate_engine.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"
#include "prune/search/plain_search.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct EngineFixture : ::testing::Test {
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(test::shared_dir() / "models/testbed-15m")) return;
    model_ = new Model(Model::load(test::shared_dir() / "models/testbed-15m", {"cpu", "f32"}));
    ids_ = new at::Tensor(at::randint(0, 8192, {4, 24}, at::TensorOptions().dtype(at::kLong)));
  }
  static void TearDownTestSuite() {
    delete model_;
    delete ids_;
  }
  static inline Model* model_ = nullptr;
  static inline at::Tensor* ids_ = nullptr;
};

SublayerSet random_set(std::mt19937& g, int L, int n) {
  SublayerSet s(L);
  while (s.count() < n) s.set(static_cast<int>(g() % (2 * L)));
  return s;
}

void expect_close(double got, double want, double tol, const std::string& what) {
  EXPECT_LE(std::abs(got - want), tol * std::abs(want)) << what << ": engine " << got << " plain " << want;
}

// Tolerance: 1e-6 relative. With micro-batches smaller than the plain batch, matrix products of
// other shapes round differently; KL, a small difference of large log-probabilities, turns that into
// ~1e-6 of its value, so KL with 2-row micro-batches is held to 1e-5 (NLL stays at 1e-6).
TEST_F(EngineFixture, EqualsFullRecomputeForRandomRemovals) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  const Model& m = *model_;
  const int L = m.config.num_layers();
  std::mt19937 g(7);
  double worst = 0;
  for (auto metric : {SearchMetric::Nll, SearchMetric::Kl}) {
    for (int64_t micro : {ids_->size(0), int64_t{2}}) {
      const double tol = metric == SearchMetric::Kl && micro < ids_->size(0) ? 1e-5 : 1e-6;
      for (int checkpoints : {-1, 3, 0}) {
        EngineOptions o;
        o.micro_batch = micro;
        o.checkpoints = checkpoints;
        CandidateEngine e(m, *ids_, metric, o);
        for (int trial = 0; trial < 5; ++trial) {
          // Move the base now and then: cached boundaries after the change are recomputed.
          if (trial % 3 == 2) e.set_base(random_set(g, L, 2));
          auto removed = random_set(g, L, 1 + trial);
          double want =
              metric == SearchMetric::Nll ? test::plain_nll(m, *ids_, removed) : test::plain_kl(m, *ids_, removed);
          double got = *e.evaluate(removed);
          expect_close(got, want, tol,
                       fmt::format("{} micro-batch {} checkpoints {} trial {}", search_metric_name(metric), micro,
                                   checkpoints, trial));
          if (tol == 1e-6) worst = std::max(worst, std::abs(got - want) / std::abs(want));
        }
        // The base itself (nothing differs: runs from the last cached boundary).
        double base_want =
            metric == SearchMetric::Nll ? test::plain_nll(m, *ids_, e.base()) : test::plain_kl(m, *ids_, e.base());
        expect_close(*e.evaluate(e.base()), base_want, tol, "base");
        if (checkpoints == 3) EXPECT_EQ(e.report()["boundaries_cached"].size(), 3u);
        if (checkpoints == 0) EXPECT_TRUE(e.report()["boundaries_cached"].empty());
      }
    }
  }
  std::printf("engine vs full recompute (1e-6 cases): worst relative difference %.3g\n", worst);
}

TEST_F(EngineFixture, RowSubsetsAndCutRows) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  std::mt19937 g(3);
  auto removed = random_set(g, m.config.num_layers(), 3);
  CandidateEngine e(m, *ids_, SearchMetric::Kl, {});
  // Rows 3 and 1 whole, then row 2 cut to 17 tokens: token-weighted mean over the 3 pieces.
  std::vector<RowSpan> rows{{3, 24}, {1, 24}, {2, 17}};
  auto sel = at::tensor(std::vector<int64_t>{3, 1}, at::kLong);
  double a = test::plain_kl(m, ids_->index_select(0, sel), removed) * 2 * 23;
  double b = test::plain_kl(m, ids_->narrow(0, 2, 1).narrow(1, 0, 17), removed) * 16;
  expect_close(*e.evaluate(removed, rows), (a + b) / (2 * 23 + 16), 1e-5, "kl on row spans");
  EXPECT_THROW(e.evaluate(removed, {{4, 24}}), InputError);
  EXPECT_THROW(e.evaluate(removed, {{0, 25}}), InputError);
}

TEST_F(EngineFixture, BoundedEvaluationStopsOnlyAboveTheBound) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  EngineOptions o;
  o.micro_batch = 1;
  CandidateEngine e(m, *ids_, SearchMetric::Nll, o);
  std::mt19937 g(11);
  int stopped = 0;
  for (int trial = 0; trial < 8; ++trial) {
    auto removed = random_set(g, m.config.num_layers(), 1 + trial % 4);
    double full = *e.evaluate(removed);
    for (double f : {0.5, 0.9, 1.0, 1.1}) {
      auto r = e.evaluate(removed, {}, full * f);
      if (r) {
        EXPECT_EQ(*r, full);
      } else {
        EXPECT_GT(full, full * f);
        ++stopped;
      }
    }
    EXPECT_TRUE(e.evaluate(removed, {}, full).has_value()) << "a tie with the bound is scored in full";
  }
  EXPECT_GT(stopped, 0);
  EXPECT_EQ(e.stopped_early(), stopped);
}

TEST_F(EngineFixture, BudgetLimitsCachedBoundaries) {
  LOPPER_REQUIRE_SHARED();
  const Model& m = *model_;
  EngineOptions o;
  const double boundary_gb = 4.0 * 24 * 256 * 4 / (1024.0 * 1024 * 1024);
  o.cache_budget_gb = boundary_gb * 4.5;  // room for 4 boundaries
  CandidateEngine e(m, *ids_, SearchMetric::Nll, o);
  EXPECT_EQ(e.report()["boundaries_cached"].size(), 4u);
  o.cache_budget_gb = boundary_gb * 0.5;  // the KL reference alone does not fit
  EXPECT_THROW(CandidateEngine(m, *ids_, SearchMetric::Kl, o), InputError);
  o.cache_dtype = "bf16";
  o.cache_budget_gb = 100;
  CandidateEngine half(m, *ids_, SearchMetric::Nll, o);
  EXPECT_EQ(half.report()["cache_dtype"], "bf16");
}

}  // namespace
}  // namespace lopper
