// BlockPruner (MrGGLS/BlockPruner, block_search.py): greedy removal of single sublayers. Each step
// lists every remaining attention (ascending), then every remaining MLP (ascending), scores the
// calibration perplexity with each one removed, and removes the first strict minimum (ties: the
// earlier candidate, so attention before MLP and lower layers first). No barriers.
// --variant 2ssp-baseline: the version bundled with 2SSP (src/pruning.py), where each round removes
// the best attention and then, with it gone, the best MLP (an even split between the two kinds).
#include "lopper/prune/search/greedy_search.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

class BlockPruner : public SearchMethod {
 public:
  std::string name() const override { return "blockpruner"; }
  std::string description() const override {
    return "BlockPruner: greedily removes the attention or MLP sublayer whose removal gives the lowest calibration "
           "perplexity";
  }
  nlohmann::json settings(const SearchOptions& o) const override {
    return {{"variant", o.variant.empty() ? "blockpruner" : o.variant}, {"metric", "ppl"},
            {"search_samples", o.search_samples}};
  }
  void validate(const Model& m, const SearchOptions& o) const override {
    check(o.variant.empty() || o.variant == "2ssp-baseline", "--variant \"{}\" is not known for blockpruner "
          "(2ssp-baseline)", o.variant);
    const auto present = present_sublayers(m.config);
    const int L = m.config.num_layers();
    auto target = removal_target(m.config, o, "sublayers");
    int total = 0;
    for (bool p : present) total += p;
    // At least one sublayer must remain (a model of nothing is not a model): at most, all but the smallest.
    const auto params = sublayer_param_counts(m.config);
    SublayerSet all_but_one(L);
    int smallest = -1;
    for (int s = 0; s < 2 * L; ++s) {
      if (!present[s]) continue;
      all_but_one.set(s);
      if (smallest < 0 || params[s] < params[smallest]) smallest = s;
    }
    all_but_one.set(smallest, false);
    if (target.units)
      check(*target.units < total, "--remove {}: the model has {} sublayers; at least one must remain", *target.units,
            total);
    else
      check(target.reached(m.config, all_but_one, total - 1), "--ratio {} is beyond what blockpruner can remove: at "
            "most {:.4f} of the decoder parameters (one sublayer must remain)", *target.ratio,
            static_cast<double>(removed_params(m.config, all_but_one)) / static_cast<double>(target.decoder_params));
  }

  SearchResult run(const Model& m, const CalibData& calib, const SearchOptions& o) const override {
    validate(m, o);
    const bool alternate = o.variant == "2ssp-baseline";
    const auto present = present_sublayers(m.config);
    const int L = m.config.num_layers();
    auto target = removal_target(m.config, o, "sublayers");
    int total = 0;
    for (bool p : present) total += p;
    CandidateEngine engine(m, rows_of(calib, o.search_samples), SearchMetric::Nll, o.engine);
    GreedySpec spec;
    spec.label = "blockpruner";
    spec.rows = engine.all_rows();
    const auto params = sublayer_param_counts(m.config);
    std::vector<int64_t> unit_params;
    for (int s = 0; s < 2 * L; ++s)
      if (present[s]) unit_params.push_back(params[s]);
    spec.expected_steps = target.max_steps(unit_params);
    spec.candidates = [&](const SublayerSet& cur, int step) {
      GreedyCandidates c;
      for (int kind : {0, 1}) {
        if (alternate && kind != step % 2) continue;
        for (int l = 0; l < L; ++l) {
          int s = 2 * l + kind;
          if (present[s] && !cur.removed(s)) {
            c.groups.push_back({s});
            c.labels.push_back(sublayer_label(s));
          }
        }
      }
      // Never the last remaining sublayer.
      if (cur.count() + 1 >= total) c.groups.clear(), c.labels.clear();
      return c;
    };
    spec.done = [&](const SublayerSet& cur, int steps) { return target.reached(m.config, cur, steps); };
    SearchResult r;
    r.unit = "sublayers";
    r.removed = run_greedy(engine, SublayerSet(L), spec, o, r.steps);
    r.engine = engine.report();
    return r;
  }
};

}  // namespace

std::unique_ptr<SearchMethod> make_blockpruner() { return std::make_unique<BlockPruner>(); }

}  // namespace lopper
