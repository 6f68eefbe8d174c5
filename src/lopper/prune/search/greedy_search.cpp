#include "lopper/prune/search/greedy_search.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <cmath>

#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

std::vector<int> recorded_removal(const nlohmann::json& step) {
  check(step.is_object() && step.contains("removed") && step["removed"].is_array(),
        "--resume: a step in the report has no \"removed\" list");
  return step["removed"].get<std::vector<int>>();
}

}  // namespace

std::vector<int> order_by_previous(const std::vector<int>& keys, const std::map<int, double>& prev) {
  std::vector<int> order(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    auto ia = prev.find(keys[a]), ib = prev.find(keys[b]);
    if (ia == prev.end() || ib == prev.end()) return ia != prev.end() && ib == prev.end();
    return ia->second < ib->second;
  });
  return order;
}

GreedyStep greedy_step(CandidateEngine& engine, const SublayerSet& current, const std::vector<std::vector<int>>& groups,
                       const std::vector<RowSpan>& rows, const std::vector<int>& order, bool full) {
  check(!groups.empty(), "no candidates left to remove");
  GreedyStep r;
  r.scores.assign(groups.size(), std::nullopt);
  double best = std::numeric_limits<double>::infinity();
  for (int pos : order) {
    SublayerSet cand = current;
    for (int s : groups.at(pos)) cand.set(s);
    // A candidate that only ties the best must still be scored in full (the earlier one wins ties).
    auto score = engine.evaluate(cand, rows, full ? std::numeric_limits<double>::infinity() : best);
    r.scores[pos] = score;
    if (!score || !std::isfinite(*score)) continue;
    if (r.best < 0 || *score < best || (*score == best && pos < r.best)) {
      best = *score;
      r.best = pos;
    }
  }
  check(r.best >= 0, "every candidate's score was not finite");
  r.best_score = best;
  return r;
}

SublayerSet run_greedy(CandidateEngine& engine, const SublayerSet& start, const GreedySpec& spec,
                       const SearchOptions& o, nlohmann::json& steps) {
  const ModelConfig& c = engine.model().config;
  const double dec = static_cast<double>(decoder_params(c));
  SublayerSet current = start;
  std::map<int, double> prev;  // first sublayer of a candidate -> its score at the last step
  const nlohmann::json resume = o.resume_steps.is_array() ? o.resume_steps : nlohmann::json::array();
  Progress bar(spec.label, spec.expected_steps > 0 ? spec.expected_steps : 1, "steps");
  for (int step = 0; !spec.done(current, step); ++step) {
    auto t0 = std::chrono::steady_clock::now();
    auto cands = spec.candidates(current, step);
    check(!cands.groups.empty(), "{}: no candidates left at step {} before reaching the target", spec.label, step + 1);
    nlohmann::json rec;
    if (step < static_cast<int>(resume.size())) {
      // Replay: the recorded choice must be one of this step's candidates.
      auto removed = recorded_removal(resume[step]);
      bool found = false;
      for (const auto& g : cands.groups) found = found || g == removed;
      check(found, "--resume: step {} of the report removes sublayers that are not candidates here", step + 1);
      rec = resume[step];
      for (int s : removed) current.set(s);
      if (rec.contains("candidates"))
        for (const auto& cj : rec["candidates"])
          if (!cj["score"].is_null()) prev[cj["sublayers"][0].get<int>()] = cj["score"].get<double>();
      rec["resumed"] = true;
    } else {
      std::vector<int> keys;
      for (const auto& g : cands.groups) keys.push_back(g.front());
      auto order = order_by_previous(keys, prev);
      auto r = greedy_step(engine, current, cands.groups, spec.rows, order, o.full_scores);
      prev.clear();
      nlohmann::json cj = nlohmann::json::array();
      for (size_t i = 0; i < cands.groups.size(); ++i) {
        if (r.scores[i]) prev[keys[i]] = *r.scores[i];
        cj.push_back({{"label", cands.labels[i]},
                      {"sublayers", cands.groups[i]},
                      {"score", r.scores[i] ? nlohmann::json(*r.scores[i]) : nlohmann::json(nullptr)}});
      }
      for (int s : cands.groups[r.best]) current.set(s);
      rec = {{"step", step + 1},
             {"removed", cands.groups[r.best]},
             {"label", cands.labels[r.best]},
             {"score", r.best_score},
             {"candidates", cj},
             {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
      if (engine.metric() == SearchMetric::Nll) rec["ppl"] = std::exp(r.best_score);
    }
    rec["removed_params_fraction"] = static_cast<double>(removed_params(c, current)) / dec;
    steps.push_back(rec);
    engine.set_base(current);
    if (o.on_step) o.on_step(steps);
    bar.advance();
  }
  bar.finish();
  return current;
}

}  // namespace lopper
