// SLEB (jiwonsong-dev/SLEB, sleb.py): remove whole blocks one at a time. Each step tries every
// remaining block except the first `barrier_first` and the last `barrier_last` remaining ones and
// removes the block whose removal gives the lowest calibration NLL (the reference sums the NLL over
// its fixed windows; the mean ranks the same). Ties go to the lower block (strict minimum).
// Reference defaults: wikitext2 train, 2048-token windows, barriers 1 and 1.
#include "lopper/prune/search/greedy_search.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

// Blocks that still have a sublayer, in order.
std::vector<int> alive_blocks(const std::vector<bool>& present, const SublayerSet& removed) {
  std::vector<int> out;
  for (int l = 0; l < removed.num_layers(); ++l)
    if ((present[2 * l] && !removed.attn_removed(l)) || (present[2 * l + 1] && !removed.mlp_removed(l)))
      out.push_back(l);
  return out;
}

std::vector<int> block_group(const std::vector<bool>& present, int l) {
  std::vector<int> g;
  for (int s : {2 * l, 2 * l + 1})
    if (present[s]) g.push_back(s);
  return g;
}

class Sleb : public SearchMethod {
 public:
  std::string name() const override { return "sleb"; }
  std::string description() const override {
    return "SLEB: greedily removes the block whose removal gives the lowest calibration NLL, first and last "
           "remaining blocks excluded";
  }
  nlohmann::json settings(const SearchOptions& o) const override {
    return {{"barrier_first", o.barrier_first}, {"barrier_last", o.barrier_last}, {"metric", "nll"},
            {"search_samples", o.search_samples}};
  }
  void validate(const Model& m, const SearchOptions& o) const override {
    check(o.barrier_first >= 0 && o.barrier_last >= 0, "--barriers must not be negative");
    const auto present = present_sublayers(m.config);
    const SublayerSet none(m.config.num_layers());
    auto target = removal_target(m.config, o, "blocks");
    // Never candidates: the first barrier_first and last barrier_last blocks (they remain forever).
    auto alive = alive_blocks(present, none);
    const int removable = static_cast<int>(alive.size()) - o.barrier_first - o.barrier_last;
    check(removable >= 1, "sleb: {} blocks with barriers {} and {} leave nothing to remove", alive.size(),
          o.barrier_first, o.barrier_last);
    SublayerSet all = none;
    for (int i = o.barrier_first; i < static_cast<int>(alive.size()) - o.barrier_last; ++i) all.remove_block(alive[i]);
    if (target.units)
      check(*target.units <= removable, "--remove {}: sleb can remove at most {} of {} blocks (barriers {} and {})",
            *target.units, removable, alive.size(), o.barrier_first, o.barrier_last);
    else
      check(target.reached(m.config, all, removable), "--ratio {} is beyond what sleb can remove: at most {:.4f} of "
            "the decoder parameters (barriers {} and {})", *target.ratio,
            static_cast<double>(removed_params(m.config, all)) / static_cast<double>(target.decoder_params),
            o.barrier_first, o.barrier_last);
  }

  SearchResult run(const Model& m, const CalibData& calib, const SearchOptions& o) const override {
    validate(m, o);
    const auto present = present_sublayers(m.config);
    const SublayerSet none(m.config.num_layers());
    auto target = removal_target(m.config, o, "blocks");
    CandidateEngine engine(m, rows_of(calib, o.search_samples), SearchMetric::Nll, o.engine);
    GreedySpec spec;
    spec.label = "sleb";
    spec.rows = engine.all_rows();
    const auto params = sublayer_param_counts(m.config);
    std::vector<int64_t> block_params;
    for (int l : alive_blocks(present, none)) block_params.push_back(params[2 * l] + params[2 * l + 1]);
    spec.expected_steps = target.max_steps(block_params);
    spec.candidates = [&](const SublayerSet& cur, int) {
      GreedyCandidates c;
      auto a = alive_blocks(present, cur);
      for (int i = o.barrier_first; i < static_cast<int>(a.size()) - o.barrier_last; ++i) {
        c.groups.push_back(block_group(present, a[i]));
        c.labels.push_back(fmt::format("block {}", a[i]));
      }
      return c;
    };
    spec.done = [&](const SublayerSet& cur, int steps) { return target.reached(m.config, cur, steps); };
    SearchResult r;
    r.unit = "blocks";
    r.removed = run_greedy(engine, none, spec, o, r.steps);
    r.engine = engine.report();
    return r;
  }
};

}  // namespace

std::unique_ptr<SearchMethod> make_sleb() { return std::make_unique<Sleb>(); }

}  // namespace lopper
