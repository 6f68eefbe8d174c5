// EvoPress depth search (IST-DASLab/EvoPress, evo_drop_search.py): choose exactly k attention and k
// MLP sublayers to remove by an evolutionary search with KL-divergence fitness.
//   - Candidate: an attention and an MLP removal vector, each with exactly k removed.
//   - Start: `initial` (64) distinct random candidates scored on `initial_tokens` (2048); the best
//     becomes the parent (population 1).
//   - Each generation: `offspring` (32) distinct mutants of the parent; mutation = flips =
//     min(U{1..m}, U{1..m}) (m = 3) swaps of a kept and a removed position of one random kind.
//     Selection stages [2048 tokens, keep 2] then [32768 tokens, keep 1]; the parent joins the
//     candidates before the last stage (it is re-scored, not remembered). Every stage draws a fresh
//     minibatch of calibration sequences (without replacement, the last one cut so the total is
//     exact). Ties go to the earlier candidate (offspring before the parent).
//   - Generations: int(k (L - k) / 1.5) by default.
// Randomness comes from one std::mt19937_64(seed) with a fixed integer mapping, so a seed gives the
// same search on every platform (not the reference's Python stream).
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include "lopper/data/windows.h"
#include "lopper/prune/search/search.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

using Rng = std::mt19937_64;

int uniform_in(Rng& g, int lo, int hi) { return lo + static_cast<int>(uniform_below(g, static_cast<uint64_t>(hi - lo + 1))); }

// k distinct positions from `legal`, in draw order (random.sample).
std::vector<int> sample_k(Rng& g, std::vector<int> legal, int k) {
  std::vector<int> out;
  for (int i = 0; i < k; ++i) {
    size_t j = uniform_below(g, legal.size());
    out.push_back(legal[j]);
    legal.erase(legal.begin() + static_cast<std::ptrdiff_t>(j));
  }
  return out;
}

std::string rng_state(const Rng& g) {
  std::ostringstream s;
  s << g;
  return s.str();
}

nlohmann::json describe(const SublayerSet& s) {
  std::vector<int> a, m;
  for (int l = 0; l < s.num_layers(); ++l) {
    if (s.attn_removed(l)) a.push_back(l);
    if (s.mlp_removed(l)) m.push_back(l);
  }
  return {{"attention", a}, {"mlp", m}};
}

SublayerSet from_description(const nlohmann::json& j, int L) {
  SublayerSet s(L);
  for (int l : j.at("attention").get<std::vector<int>>()) s.set(2 * l);
  for (int l : j.at("mlp").get<std::vector<int>>()) s.set(2 * l + 1);
  return s;
}

// Layers that have an attention (legal[0]) / an MLP (legal[1]) that may be removed.
std::array<std::vector<int>, 2> legal_layers(const ModelConfig& c) {
  const auto present = present_sublayers(c);
  std::array<std::vector<int>, 2> legal;
  for (int l = 0; l < c.num_layers(); ++l)
    for (int t : {0, 1})
      if (present[2 * l + t]) legal[t].push_back(l);
  return legal;
}

class EvoPress : public SearchMethod {
 public:
  std::string name() const override { return "evopress"; }
  std::string description() const override {
    return "EvoPress: evolutionary search over k attention and k MLP removals with KL-divergence fitness";
  }
  nlohmann::json settings(const SearchOptions& o) const override {
    return {{"remove", o.remove ? nlohmann::json(*o.remove) : nlohmann::json(nullptr)},
            {"ratio", o.ratio ? nlohmann::json(*o.ratio) : nlohmann::json(nullptr)},
            {"initial", o.initial}, {"offspring", o.offspring}, {"max_mutations", o.max_mutations},
            {"generations", o.generations ? nlohmann::json(*o.generations) : nlohmann::json(nullptr)},
            {"initial_tokens", o.initial_tokens}, {"stage_tokens", o.stage_tokens}, {"stage_keep", o.stage_keep},
            {"seed", o.seed}, {"metric", o.metric}};
  }

  void validate(const Model& m, const SearchOptions& o) const override {
    const auto legal = legal_layers(m.config);
    const int k = k_of(m.config, o);
    for (int t : {0, 1})
      check(k < static_cast<int>(legal[t].size()), "evopress: removing {} {} sublayers of {} leaves none (k must be "
            "less than the number of layers)", k, t == 0 ? "attention" : "MLP", legal[t].size());
    check(o.initial >= 1 && o.offspring >= 1 && o.max_mutations >= 1, "evopress: --initial, --offspring and "
          "--max-mutations must be at least 1");
    check(!o.stage_tokens.empty() && o.stage_tokens.size() == o.stage_keep.size(), "evopress: --stage-tokens and "
          "--stage-keep need the same number of entries");
    check(o.stage_keep.back() == 1, "evopress: the last selection stage keeps 1 (the population is one parent)");
    for (size_t i = 0; i < o.stage_keep.size(); ++i)
      check(o.stage_keep[i] >= 1 && o.stage_keep[i] <= o.offspring + 1, "evopress: stage {} keeps {} of {} "
            "candidates", i + 1, o.stage_keep[i], o.offspring);
    parse_search_metric(o.metric);
  }

  SearchResult run(const Model& m, const CalibData& calib, const SearchOptions& o) const override {
    validate(m, o);
    const int L = m.config.num_layers();
    const auto present = present_sublayers(m.config);
    const auto legal = legal_layers(m.config);
    const int k = k_of(m.config, o);
    const int64_t available = calib.ids.size(0) * calib.ids.size(1);
    for (int64_t t : o.stage_tokens)
      check(t >= 2 && t <= available, "evopress: a stage of {} tokens needs more than the {} calibration tokens "
            "({} x {})", t, available, calib.ids.size(0), calib.ids.size(1));
    check(o.initial_tokens >= 2 && o.initial_tokens <= available, "evopress: --initial-tokens {} exceeds the {} "
          "calibration tokens", o.initial_tokens, available);
    const int generations = o.generations ? *o.generations : static_cast<int>(k * (L - k) / 1.5);
    check(generations >= 0, "--generations {} must not be negative", generations);

    CandidateEngine engine(m, calib.ids, parse_search_metric(o.metric), o.engine);
    Rng rng(o.seed);
    SearchResult r;
    r.unit = "sublayers";
    SublayerSet parent(L);
    int start_gen = 0;
    const auto& resume = o.resume_steps;
    if (resume.is_array() && !resume.empty()) {
      const auto& last = resume.back();
      check(last.contains("parent") && last.contains("rng") && last.contains("generation"), "--resume: the report's "
            "last generation has no parent or generator state");
      parent = from_description(last.at("parent"), L);
      std::istringstream s(last.at("rng").get<std::string>());
      s >> rng;
      check(!s.fail(), "--resume: the report's random-generator state is not readable");
      start_gen = last.at("generation").get<int>() + 1;
      r.steps = resume;
      check(start_gen <= generations + 1, "--resume: the report has {} generations, more than this run's {}",
            start_gen - 1, generations);
    }
    Progress bar("evopress", generations + 1, "generations");
    bar.set(start_gen);
    for (int gen = start_gen; gen <= generations; ++gen) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<SublayerSet> cands;
      std::set<SublayerSet> seen;
      double fitness = 0;
      if (gen == 0) {
        // Initial population: distinct random candidates.
        while (static_cast<int>(cands.size()) < o.initial) {
          SublayerSet c(L);
          for (int t : {0, 1})
            for (int l : sample_k(rng, legal[t], k)) c.set(2 * l + t);
          if (seen.insert(c).second) cands.push_back(c);
          else check(seen.size() < 100000, "evopress: cannot draw {} distinct initial candidates", o.initial);
        }
        std::tie(parent, fitness) = select(engine, calib, cands, {o.initial_tokens}, {1}, nullptr, rng, o.full_scores);
      } else {
        seen.insert(parent);
        int tries = 0;
        while (static_cast<int>(cands.size()) < o.offspring) {
          SublayerSet c = mutate(parent, present, rng, o.max_mutations);
          if (seen.insert(c).second) cands.push_back(c);
          check(++tries < 100000, "evopress: cannot find {} distinct offspring (too few possible candidates)",
                o.offspring);
        }
        std::tie(parent, fitness) =
            select(engine, calib, cands, o.stage_tokens, o.stage_keep, &parent, rng, o.full_scores);
      }
      // Only the last generation keeps the generator state (~6 KB) that --resume needs.
      if (!r.steps.empty()) r.steps.back().erase("rng");
      r.steps.push_back({{"generation", gen},
                         {"parent", describe(parent)},
                         {"fitness", fitness},
                         {"rng", rng_state(rng)},
                         {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}});
      if (o.on_step) o.on_step(r.steps);
      bar.advance();
    }
    bar.finish();
    r.removed = parent;
    r.details = {{"k", k}, {"generations", generations}};
    r.engine = engine.report();
    return r;
  }

 private:
  // k: --remove N, or the fewest per kind whose removal reaches --ratio of the decoder parameters
  // in a uniform model (k / L >= R).
  static int k_of(const ModelConfig& c, const SearchOptions& o) {
    check(o.remove.has_value() != o.ratio.has_value(), "give exactly one target: --remove K (attention and MLP "
          "sublayers of each kind) or --ratio R");
    const int L = c.num_layers();
    if (o.remove) {
      check(*o.remove >= 1 && *o.remove < L, "--remove {} must be between 1 and {} (per kind)", *o.remove, L - 1);
      return *o.remove;
    }
    check(*o.ratio > 0 && *o.ratio < 1, "--ratio {} must be in (0, 1)", *o.ratio);
    int k = static_cast<int>(std::ceil(*o.ratio * L - 1e-9));
    check(k < L, "--ratio {} is beyond what evopress can remove (k = {} of {} layers)", *o.ratio, k, L);
    return std::max(k, 1);
  }

  // Swaps `flips` kept and removed positions of one random kind each.
  static SublayerSet mutate(const SublayerSet& p, const std::vector<bool>& present, Rng& rng, int max_mut) {
    SublayerSet c = p;
    const int L = p.num_layers();
    int flips = std::min(uniform_in(rng, 1, max_mut), uniform_in(rng, 1, max_mut));
    for (int i = 0; i < flips; ++i) {
      int t = uniform_in(rng, 0, 1);
      int kept, gone;
      do kept = uniform_in(rng, 0, L - 1); while (c.removed(2 * kept + t) || !present[2 * kept + t]);
      do gone = uniform_in(rng, 0, L - 1); while (!c.removed(2 * gone + t));
      c.set(2 * kept + t, true);
      c.set(2 * gone + t, false);
    }
    return c;
  }

  // A fresh minibatch of `tokens` tokens: whole sequences drawn without replacement, the last one cut.
  static std::vector<RowSpan> minibatch(const CalibData& calib, int64_t tokens, Rng& rng) {
    const int64_t N = calib.ids.size(0), T = calib.ids.size(1);
    std::vector<RowSpan> rows;
    std::set<int64_t> used;
    while (tokens > 0) {
      int64_t row = static_cast<int64_t>(uniform_below(rng, static_cast<uint64_t>(N)));
      if (!used.insert(row).second) continue;
      int64_t len = std::min(T, tokens);
      tokens -= len;
      if (len >= 2) rows.push_back({row, len});
    }
    return rows;
  }

  // Runs the selection stages; returns the winner and its fitness in the last stage.
  static std::pair<SublayerSet, double> select(CandidateEngine& engine, const CalibData& calib, std::vector<SublayerSet> cands,
                     const std::vector<int64_t>& tokens, const std::vector<int>& keep, const SublayerSet* parent,
                     Rng& rng, bool full) {
    double fitness = 0;
    for (size_t stage = 0; stage < tokens.size(); ++stage) {
      if (parent && keep[stage] == keep.back()) cands.push_back(*parent);  // elitism, as the reference
      auto rows = minibatch(calib, tokens[stage], rng);
      std::vector<std::pair<double, size_t>> scored;  // complete scores only
      std::vector<double> best;                        // sorted complete scores (bound = keep-th)
      for (size_t i = 0; i < cands.size(); ++i) {
        double bound = std::numeric_limits<double>::infinity();
        if (!full && static_cast<int>(best.size()) >= keep[stage]) bound = best[keep[stage] - 1];
        auto f = engine.evaluate(cands[i], rows, bound);
        if (!f) continue;
        scored.push_back({*f, i});
        best.insert(std::upper_bound(best.begin(), best.end(), *f), *f);
      }
      std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.first < b.first; });
      std::vector<SublayerSet> next;
      for (int j = 0; j < keep[stage] && j < static_cast<int>(scored.size()); ++j) next.push_back(cands[scored[j].second]);
      check(!scored.empty(), "evopress: no candidate had a finite fitness");
      fitness = scored.front().first;
      cands = next;
    }
    return {cands.front(), fitness};
  }
};

}  // namespace

std::unique_ptr<SearchMethod> make_evopress() { return std::make_unique<EvoPress>(); }

}  // namespace lopper
