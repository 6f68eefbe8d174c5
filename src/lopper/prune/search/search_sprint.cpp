// SPRINT (snudm-starlab/SPRINT, IJCAI 2025; src/sprint.py, utils/compression_utils.py): removes
// attention and MLP sublayers one at a time until the model is predicted to be a target factor
// faster. Each step:
//   stage 1  every remaining sublayer s gets its sensitivity: the distance between the output after
//            t(s) (the first remaining MLP after s) with s present and with s removed, summed over
//            calibration samples; divided by the latency of s's type (latency-aware), several
//            metrics combined by rank sum;
//   stage 2  the best --candidates of stage 1 are scored again after re-fitting t(s)'s down_proj by
//            least squares (sprint_refit.h); together with the still-valid refits of earlier steps
//            they are ranked the same way, and the best is removed with its refit kept.
// The latency table (sprint_latency.h) gives the per-type latencies and the predicted speedup
// (sum of all sublayer latencies / sum of the remaining ones). docs/methods.md has every rule.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <optional>

#include "lopper/prune/search/sprint_state.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

nlohmann::json metric_scores(const std::vector<SensitivityMetric>& ms, const std::vector<double>& v) {
  nlohmann::json j = nlohmann::json::object();
  for (size_t k = 0; k < ms.size(); ++k) j[ms[k].name()] = v[k];
  return j;
}

std::vector<double> scores_from(const std::vector<SensitivityMetric>& ms, const nlohmann::json& j) {
  std::vector<double> v;
  for (const auto& m : ms) {
    check(j.is_object() && j.contains(m.name()) && j[m.name()].is_number(), "--resume: a recorded refit lacks the "
          "{} score", m.name());
    v.push_back(j[m.name()].get<double>());
  }
  return v;
}

class Sprint : public SearchMethod {
 public:
  std::string name() const override { return "sprint"; }
  std::string description() const override {
    return "SPRINT: removes the attention / MLP sublayer with the lowest sensitivity per unit of latency, "
           "sensitivity measured after re-fitting the next MLP by least squares, until the predicted speedup is "
           "reached";
  }

  nlohmann::json settings(const SearchOptions& o) const override {
    const auto& p = o.sprint;
    nlohmann::json j = {{"sensitivity", p.sensitivity}, {"latency_aware", p.latency_aware}, {"tuning", p.tuning},
                        {"candidates", p.candidates},   {"tuning_ratio", p.tuning_ratio},   {"tuning_dtype", p.tuning_dtype},
                        {"damping", p.damping},         {"latency", p.latency.key()}};
    j["target_speedup"] = p.target_speedup ? nlohmann::json(*p.target_speedup) : nlohmann::json(nullptr);
    j["remove_sublayers"] = o.remove ? nlohmann::json(*o.remove) : nlohmann::json(nullptr);
    if (table_) j["latency_table"] = {{"attention_s", table_->attn_s}, {"mlp_s", table_->mlp_s}};
    return j;
  }

  void validate(const Model& m, const SearchOptions& o) const override {
    const auto& p = o.sprint;
    check(p.candidates >= 1, "--candidates {} must be at least 1", p.candidates);
    check(p.tuning_ratio > 0 && p.tuning_ratio <= 1, "--tuning-ratio {} must be in (0, 1]", p.tuning_ratio);
    check(p.damping >= 0, "--damping {} must not be negative", p.damping);
    check(p.tuning_dtype == "f32" || p.tuning_dtype == "f64", "--tuning-dtype \"{}\" is not known (f32, f64)",
          p.tuning_dtype);
    check(p.checkpoints >= -1, "--checkpoints {} must be all, none or a count", p.checkpoints);
    (void)parse_sensitivity_metrics(p.sensitivity);
    check(!o.ratio && !o.sparsity, "sprint takes --target-speedup X or --remove-sublayers N, not --ratio / --sparsity");
    check(p.target_speedup.has_value() != o.remove.has_value(),
          "sprint: give exactly one target, --target-speedup X or --remove-sublayers N");
    const auto present = present_sublayers(m.config);
    int alive = 0;
    for (bool b : present) alive += b;
    if (o.remove) {
      check(*o.remove >= 1, "--remove-sublayers {} must be at least 1", *o.remove);
      check(*o.remove < alive, "--remove-sublayers {}: the model has {} sublayers and at least one must remain",
            *o.remove, alive);
    } else {
      check(std::isfinite(*p.target_speedup) && *p.target_speedup > 1, "--target-speedup {} must be above 1",
            *p.target_speedup);
    }
    const auto& t = table(m, o);
    if (p.target_speedup) {
      auto order = cheapest_first(t, present);
      SublayerSet all_but_one(m.config.num_layers());
      for (size_t i = 1; i < order.size(); ++i) all_but_one.set(order[i]);  // the cheapest one left
      const double best = predicted_speedup(t, present, all_but_one);
      check(*p.target_speedup <= best, "--target-speedup {} cannot be reached by removing sublayers: the latency "
            "table (attention {:.4g} ms, MLP {:.4g} ms) predicts at most {:.4f} with one sublayer left",
            *p.target_speedup, t.attn_s * 1e3, t.mlp_s * 1e3, best);
    }
  }

  SearchResult run(const Model& m, const CalibData& calib, const SearchOptions& o) const override {
    validate(m, o);
    const auto& p = o.sprint;
    const SublayerLatency& lat = table(m, o);
    std::printf("-- latency table (%s, %s mode): T1 %.3f ms, T2 %.3f ms, T3 %.3f ms -> attention %.4f ms, MLP %.4f "
                "ms per sublayer\n", lat.source.c_str(), lat.settings.mode.c_str(), lat.t1_s * 1e3, lat.t2_s * 1e3,
                lat.t3_s * 1e3, lat.attn_s * 1e3, lat.mlp_s * 1e3);
    for (const auto& w : lat.warnings) std::printf("   warning: %s\n", w.c_str());
    SprintState st(m, rows_of(calib, o.search_samples), o, lat);
    const auto& ms = st.metrics();
    const nlohmann::json resume = o.resume_steps.is_array() ? o.resume_steps : nlohmann::json::array();
    SearchResult r;
    r.unit = "sublayers";
    auto done = [&](int steps) {
      return p.target_speedup ? st.predicted_speedup() >= *p.target_speedup - 1e-12 : steps >= *o.remove;
    };
    Progress bar("sprint", expected_steps(m, lat, o), "steps");
    for (int step = 0; !done(step); ++step) {
      check(st.alive_list().size() > 1, "sprint: one sublayer is left before reaching the target");
      auto t0 = std::chrono::steady_clock::now();
      nlohmann::json rec;
      if (step < static_cast<int>(resume.size())) {
        rec = replay(st, resume[step], step, ms);
      } else {
        rec = live_step(st, step, p, ms);
        rec["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
      rec["predicted_speedup"] = st.predicted_speedup();
      r.steps.push_back(rec);
      if (o.on_step) o.on_step(r.steps);
      bar.advance();
    }
    bar.finish();
    r.removed = st.removed();
    r.down_proj = st.refits();
    nlohmann::json refit_layers = nlohmann::json::array();
    for (const auto& [layer, w] : r.down_proj) refit_layers.push_back(layer);
    r.details = {{"latency_table", lat.to_json()},
                 {"predicted_speedup", st.predicted_speedup()},
                 {"refit_layers", refit_layers},
                 {"sensitivity", p.sensitivity},
                 {"checkpoints", p.checkpoints}};
    r.engine = st.engine_report();
    return r;
  }

 private:
  // The table for this model and settings, measured or read once per run (validate and run share it).
  const SublayerLatency& table(const Model& m, const SearchOptions& o) const {
    auto key = latency_key(m, o.sprint.latency);
    key["file"] = o.sprint.latency_file.string();
    if (!table_ || key != table_key_) {
      table_ = sublayer_latency(m, o.sprint.latency, o.sprint.latency_file);
      table_key_ = key;
    }
    return *table_;
  }

  // Steps the search takes at most (for the progress ETA): removing the cheapest sublayers first.
  static int expected_steps(const Model& m, const SublayerLatency& lat, const SearchOptions& o) {
    if (o.remove) return *o.remove;
    const auto present = present_sublayers(m.config);
    SublayerSet removed(m.config.num_layers());
    int n = 0;
    for (int s : cheapest_first(lat, present)) {
      if (predicted_speedup(lat, present, removed) >= *o.sprint.target_speedup) break;
      removed.set(s);
      ++n;
    }
    return std::max(n, 1);
  }

  nlohmann::json live_step(SprintState& st, int step, const SprintOptions& p,
                           const std::vector<SensitivityMetric>& ms) const {
    using Clock = std::chrono::steady_clock;
    auto t1 = Clock::now();
    auto order1 = st.stage1_ranking();
    const double stage1_s = std::chrono::duration<double>(Clock::now() - t1).count();
    auto t2 = Clock::now();
    std::vector<int> cands(order1.begin(), order1.begin() + std::min<size_t>(order1.size(), p.candidates));
    nlohmann::json cj = nlohmann::json::array(), tuned_now = nlohmann::json::array();
    int target = order1.front();
    if (p.tuning) {
      std::vector<bool> cached;
      for (int s : cands) cached.push_back(st.in_pool(s));
      auto order2 = st.stage2_ranking(cands);
      target = order2.front();
      for (size_t i = 0; i < cands.size(); ++i) {
        const auto& t = st.pooled(cands[i]);
        if (!cached[i])
          tuned_now.push_back({{"sublayer", cands[i]}, {"tuning", t.tuning}, {"scores", metric_scores(ms, t.scores)},
                               {"rows", t.rows}, {"finite", t.finite}});
      }
      for (int s : order2)
        if (std::find(cands.begin(), cands.end(), s) == cands.end()) cands.push_back(s);  // cached pool entries
    }
    for (int s : cands) {
      nlohmann::json c = {{"sublayer", s}, {"label", sublayer_label(s)}, {"stage1", metric_scores(ms, st.stage1_scores(s))}};
      if (p.tuning) {
        const auto& t = st.pooled(s);
        c["tuned"] = metric_scores(ms, t.scores);
        c["tuning_sublayer"] = t.tuning >= 0 ? nlohmann::json(t.tuning) : nlohmann::json(nullptr);
        c["refit_rows"] = t.rows;
      }
      cj.push_back(c);
    }
    nlohmann::json rec = {{"step", step + 1}, {"removed", {target}}, {"label", sublayer_label(target)},
                          {"candidates", cj}, {"stage1_s", stage1_s},
                          {"stage2_s", std::chrono::duration<double>(Clock::now() - t2).count()}};
    if (p.tuning) {
      const auto& t = st.pooled(target);
      rec["tuning_sublayer"] = t.tuning >= 0 ? nlohmann::json(t.tuning) : nlohmann::json(nullptr);
      rec["refit_rows"] = t.rows;
      rec["refit_finite"] = t.finite;
      rec["score"] = metric_scores(ms, t.scores);
      rec["tuned"] = tuned_now;
    } else {
      rec["score"] = metric_scores(ms, st.stage1_scores(target));
    }
    st.remove(target, p.tuning);
    std::printf("   step %3d  removed %-8s  predicted speedup %.4f\n", step + 1, sublayer_label(target).c_str(),
                st.predicted_speedup());
    std::fflush(stdout);
    return rec;
  }

  // Re-applies a recorded step: its removal, its refit (recomputed: it depends only on the state
  // before the step), and the pool entries it added (their recorded scores), so that the next live
  // step sees what an uninterrupted run would.
  nlohmann::json replay(SprintState& st, const nlohmann::json& rec_in, int step,
                        const std::vector<SensitivityMetric>& ms) const {
    check(rec_in.is_object() && rec_in.contains("removed") && rec_in["removed"].is_array() &&
              rec_in["removed"].size() == 1 && rec_in["removed"][0].is_number_integer(),
          "--resume: step {} of the report has no removed sublayer", step + 1);
    const int target = rec_in["removed"][0].get<int>();
    check(target >= 0 && target < st.removed().size() && st.alive(target),
          "--resume: step {} removes sublayer {}, which is not there to remove", step + 1, target);
    const bool tuning = rec_in.contains("tuned");
    if (tuning)
      for (const auto& e : rec_in["tuned"]) {
        SprintTuned t;
        t.tuning = e.value("tuning", -1);
        t.scores = scores_from(ms, e.value("scores", nlohmann::json()));
        t.rows = e.value("rows", int64_t{0});
        t.finite = e.value("finite", true);
        st.add_to_pool(e.at("sublayer").get<int>(), t);
      }
    st.remove(target, tuning);
    nlohmann::json rec = rec_in;
    rec["resumed"] = true;
    return rec;
  }

  mutable std::optional<SublayerLatency> table_;
  mutable nlohmann::json table_key_;
};

}  // namespace

std::unique_ptr<SearchMethod> make_sprint() { return std::make_unique<Sprint>(); }

}  // namespace lopper
