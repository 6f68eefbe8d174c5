// The state of a SPRINT search between steps: the current removals, the model with the re-fitted
// down projections kept so far, stage-1 sensitivities (kept while still valid), and the stage-2
// pool of re-fitted candidates (kept while valid, as the reference's tuned_weights cache).
//
// Validity after removing sublayer x (whose refit goes into MLP t(x) > x):
//   the stage-1 score of s stays valid iff s < x and t(s) < x: it depends only on sublayers s..t(s)
//   and the state entering s, none of which changed;
//   a pool entry of s stays valid under the same rule (the reference drops entries whose tuning
//   sublayer is >= x).
// Everything runs through the CandidateEngine: hidden states entering a sublayer come from its
// nearest cached layer boundary (--checkpoints K: the reference's K evenly spaced ones besides the
// embedding), so a step recomputes only from the boundary before the first affected sublayer.
#pragma once
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "lopper/prune/search/candidate_engine.h"
#include "lopper/prune/search/search.h"
#include "lopper/prune/search/sprint_latency.h"
#include "lopper/prune/search/sprint_scores.h"

namespace lopper {

struct SprintTuned {
  int tuning = -1;              // t(s); -1: no MLP after s (nothing to re-fit; stage-2 score = stage-1)
  std::vector<double> scores;   // per metric, with the refit
  at::Tensor weight;            // down_proj of layer tuning / 2 with re-fitted rows (undefined: recompute)
  int64_t rows = 0;
  bool finite = true;
};

class SprintState {
 public:
  SprintState(const Model& m, const at::Tensor& ids, const SearchOptions& o, const SublayerLatency& lat);
  SprintState(const SprintState&) = delete;  // the engine refers to work_
  SprintState& operator=(const SprintState&) = delete;

  const SublayerSet& removed() const { return removed_; }
  bool alive(int s) const { return present_[s] && !removed_.removed(s); }
  std::vector<int> alive_list() const;
  int tuning_of(int s) const;  // the first remaining MLP after s, -1 if none
  double predicted_speedup() const;
  const std::vector<SensitivityMetric>& metrics() const { return metrics_; }

  // Recomputes the stale stage-1 scores; returns the remaining sublayers, best first.
  std::vector<int> stage1_ranking();
  const std::vector<double>& stage1_scores(int s) const { return stage1_.at(s); }
  // Re-fits the candidates that are not in the pool yet; returns the pool entries, best first.
  std::vector<int> stage2_ranking(const std::vector<int>& candidates);
  const SprintTuned& pooled(int s) const { return pool_.at(s); }
  bool in_pool(int s) const { return pool_.count(s) != 0; }
  void add_to_pool(int s, SprintTuned t) { pool_[s] = std::move(t); }

  // Removes s, keeping its refit (when tuning and it has one); updates validity and the engine.
  void remove(int s, bool keep_refit);

  // Re-fitted down_proj weights of the current model by layer (layers whose MLP remains).
  std::map<int, at::Tensor> refits() const;
  nlohmann::json engine_report() const { return engine_->report(); }

 private:
  SprintTuned tune(int s);
  std::vector<int> rank(const std::vector<int>& items, const std::vector<std::vector<double>>& per_item) const;

  const SearchOptions& o_;
  const SublayerLatency& lat_;
  Model work_;  // shallow copy of the input; down_proj tensors replaced as refits are kept
  std::unique_ptr<CandidateEngine> engine_;
  std::vector<SensitivityMetric> metrics_;
  std::vector<bool> present_;
  SublayerSet removed_;
  std::vector<std::vector<double>> stage1_;  // [2L][metric]
  std::vector<char> stage1_valid_;
  std::vector<int> stage1_tuning_;
  std::map<int, SprintTuned> pool_;
  std::set<int> refit_layers_;  // layers whose down_proj was replaced
};

}  // namespace lopper
