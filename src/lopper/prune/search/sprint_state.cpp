#include "lopper/prune/search/sprint_state.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "lopper/model/device.h"
#include "lopper/model/ops.h"
#include "lopper/prune/search/sprint_refit.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Captures down_proj's input (silu(gate) * up) of one layer.
class MlpActCapture : public TapHandler {
 public:
  explicit MlpActCapture(int layer) : layer_(layer) {}
  bool wants(int layer, Tap t) const override { return layer == layer_ && t == Tap::MlpAct; }
  void on(int, Tap, at::Tensor& x) override { act = x; }
  at::Tensor act;  // [n, T, F]

 private:
  int layer_;
};

EngineOptions engine_options(const SearchOptions& o) {
  EngineOptions e = o.engine;
  const int k = o.sprint.checkpoints;
  e.checkpoints = k < 0 ? -1 : (k == 0 ? 0 : k + 1);  // the reference's K plus the embedding output
  return e;
}

}  // namespace

SprintState::SprintState(const Model& m, const at::Tensor& ids, const SearchOptions& o, const SublayerLatency& lat)
    : o_(o), lat_(lat), work_(m), metrics_(parse_sensitivity_metrics(o.sprint.sensitivity)),
      present_(present_sublayers(m.config)), removed_(m.config.num_layers()) {
  // The engine's metric is unused here: SPRINT reads sublayer outputs, not the LM head.
  engine_ = std::make_unique<CandidateEngine>(work_, ids, SearchMetric::Nll, engine_options(o));
  const int S = 2 * m.config.num_layers();
  stage1_.assign(S, std::vector<double>(metrics_.size(), 0.0));
  stage1_valid_.assign(S, 0);
  stage1_tuning_.assign(S, -1);
}

std::vector<int> SprintState::alive_list() const {
  std::vector<int> out;
  for (int s = 0; s < removed_.size(); ++s)
    if (alive(s)) out.push_back(s);
  return out;
}

int SprintState::tuning_of(int s) const {
  for (int u = s + 1; u < removed_.size(); ++u)
    if (sublayer_kind(u) == SublayerKind::Mlp && alive(u)) return u;
  return -1;
}

double SprintState::predicted_speedup() const { return lopper::predicted_speedup(lat_, present_, removed_); }

std::vector<int> SprintState::rank(const std::vector<int>& items, const std::vector<std::vector<double>>& per_item) const {
  std::vector<std::vector<double>> by_metric(metrics_.size(), std::vector<double>(items.size()));
  std::vector<double> weight(items.size(), 1.0);
  for (size_t i = 0; i < items.size(); ++i) {
    for (size_t k = 0; k < metrics_.size(); ++k) by_metric[k][i] = per_item[i][k];
    if (o_.sprint.latency_aware) weight[i] = 1.0 / lat_.of(items[i]);
  }
  std::vector<int> out;
  for (int i : rank_by_metrics(by_metric, weight)) out.push_back(items[i]);
  return out;
}

std::vector<int> SprintState::stage1_ranking() {
  c10::InferenceMode guard;
  const int S = removed_.size();
  int first = -1, last = -1;
  for (int s = 0; s < S; ++s)
    if (alive(s) && !stage1_valid_[s]) {
      if (first < 0) first = s;
      last = s;
      std::fill(stage1_[s].begin(), stage1_[s].end(), 0.0);
      stage1_tuning_[s] = tuning_of(s);
    }
  // One sweep along the current model. The output "with s present" after t(s) is the current
  // model's own state at that point, which the sweep reaches anyway; only the output "with s
  // removed" costs extra sublayer runs. It waits in `pending` until the sweep gets there.
  struct Pending {
    int s, end;
    at::Tensor comp;  // [n, T, C] after sublayers < end with s removed
  };
  const int64_t N = engine_->num_rows(), mb = o_.engine.micro_batch;
  for (int64_t row0 = 0; first >= 0 && row0 < N; row0 += mb) {
    const int64_t n = std::min(mb, N - row0);
    at::Tensor h = engine_->base_state(first, row0, n);  // [n, T, C] entering sublayer `first`
    std::vector<Pending> pending;
    for (int s = first; s <= S; ++s) {
      for (auto it = pending.begin(); it != pending.end();) {
        if (it->end != s) {
          ++it;
          continue;
        }
        for (size_t k = 0; k < metrics_.size(); ++k) stage1_[it->s][k] += sensitivity_sum(metrics_[k], h, it->comp);
        it = pending.erase(it);
      }
      if (s == S || (s > last && pending.empty())) break;
      if (!alive(s)) continue;
      if (!stage1_valid_[s]) {
        const int t = stage1_tuning_[s];
        const int end = t >= 0 ? t + 1 : S;
        pending.push_back({s, end, engine_->run_sublayers(h, s + 1, end, removed_)});
      }
      h = engine_->run_sublayers(h, s, s + 1, removed_);
    }
  }
  for (int s = 0; s < S; ++s)
    if (alive(s)) stage1_valid_[s] = 1;
  auto items = alive_list();
  std::vector<std::vector<double>> per;
  for (int s : items) per.push_back(stage1_[s]);
  return rank(items, per);
}

SprintTuned SprintState::tune(int s) {
  c10::InferenceMode guard;
  SprintTuned r;
  r.tuning = tuning_of(s);
  if (r.tuning < 0) {
    r.scores = stage1_[s];
    return r;
  }
  const int t = r.tuning, layer = sublayer_layer(t);
  const MlpWeights& mlp = *work_.weights.layers.at(layer).mlp;
  const at::Tensor& w = mlp.down;                         // [C, F]
  const int64_t C = w.size(0), F = w.size(1);
  const auto acc_dtype = o_.sprint.tuning_dtype == "f64" ? at::kDouble : at::kFloat;
  RefitAccumulator acc(F, C, acc_dtype, work_.device);
  const int64_t N = engine_->num_rows(), T = engine_->seqlen(), mb = o_.engine.micro_batch;
  // Keep (Xp, R, Y) for the scoring pass when they fit a quarter of the free memory; else recompute.
  const double bytes = static_cast<double>(N * T * (F + 2 * C)) * static_cast<double>(c10::elementSize(work_.dtype));
  const int64_t avail = available_memory_bytes(work_.device);
  const bool keep = avail > 0 && bytes <= 0.25 * static_cast<double>(avail);
  struct Batch {
    at::Tensor xp, r, y;
  };
  std::vector<Batch> kept;
  auto forward = [&](int64_t row0, int64_t n) {
    at::Tensor h = engine_->base_state(s, row0, n);                 // entering s
    Batch b;
    b.r = engine_->run_sublayers(h, s + 1, t, removed_);            // entering MLP t, s removed
    MlpActCapture cap(layer);
    ForwardContext ctx;
    ctx.taps = &cap;
    (void)engine_->run_sublayers(b.r, t, t + 1, removed_, &ctx);
    b.xp = cap.act;                                                 // [n, T, F]
    b.y = engine_->run_sublayers(h, s, t + 1, removed_);            // after t, s present
    return b;
  };
  for (int64_t row0 = 0; row0 < N; row0 += mb) {
    const int64_t n = std::min(mb, N - row0);
    Batch b = forward(row0, n);
    at::Tensor target = b.y - b.r;                                  // [n, T, C]
    if (mlp.down_bias.defined()) target = target - mlp.down_bias;
    acc.add(b.xp, target);
    if (keep) kept.push_back(std::move(b));
  }
  auto fit = solve_refit(acc, w, o_.sprint.tuning_ratio, o_.sprint.damping);
  r.weight = fit.weight;
  r.rows = fit.rows_refit;
  r.finite = fit.finite;
  r.scores.assign(metrics_.size(), 0.0);
  for (int64_t row0 = 0, i = 0; row0 < N; row0 += mb, ++i) {
    const int64_t n = std::min(mb, N - row0);
    Batch b = keep ? kept[static_cast<size_t>(i)] : forward(row0, n);
    auto comp = b.r + ops::linear(b.xp, r.weight, mlp.down_bias);  // output after t with the refit
    for (size_t k = 0; k < metrics_.size(); ++k) r.scores[k] += sensitivity_sum(metrics_[k], b.y, comp);
  }
  return r;
}

std::vector<int> SprintState::stage2_ranking(const std::vector<int>& candidates) {
  for (int s : candidates)
    if (!pool_.count(s)) pool_[s] = tune(s);
  std::vector<int> items;
  std::vector<std::vector<double>> per;
  for (const auto& [s, t] : pool_) {
    items.push_back(s);
    per.push_back(t.scores);
  }
  return rank(items, per);
}

void SprintState::remove(int s, bool keep_refit) {
  check(alive(s), "sprint: sublayer {} ({}) is not there to remove", s, sublayer_label(s));
  if (keep_refit) {
    auto it = pool_.find(s);
    SprintTuned t = it != pool_.end() ? it->second : tune(s);
    if (t.tuning >= 0 && t.finite && !t.weight.defined()) t = tune(s);  // resumed: refit not in memory
    if (t.tuning >= 0 && t.finite) {
      const int layer = sublayer_layer(t.tuning);
      work_.weights.layers.at(layer).mlp->down = t.weight;  // a new tensor: the input model is untouched
      refit_layers_.insert(layer);
    }
  }
  removed_.set(s);
  for (int u = 0; u < removed_.size(); ++u)
    if (stage1_valid_[u] && (u >= s || stage1_tuning_[u] < 0 || stage1_tuning_[u] >= s)) stage1_valid_[u] = 0;
  for (auto it = pool_.begin(); it != pool_.end();)
    if (it->first >= s || it->second.tuning < 0 || it->second.tuning >= s) it = pool_.erase(it);
    else ++it;
  engine_->set_base(removed_);  // boundaries after s's layer (the refit layer is after it) recomputed
}

std::map<int, at::Tensor> SprintState::refits() const {
  std::map<int, at::Tensor> out;
  for (int layer : refit_layers_)
    if (!removed_.mlp_removed(layer)) out[layer] = work_.weights.layers.at(layer).mlp->down;
  return out;
}

}  // namespace lopper
