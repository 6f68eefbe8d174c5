// 2SSP (FabrizioSandri/2SSP): two stages for a target sparsity s of the decoder-layer parameters.
//   Stage 1 (width): in every layer keep the `keep` FFN channels with the largest importance, the
//   mean over calibration samples of the L2 norm over tokens of down_proj's input, measured on the
//   dense model; kept channels stay in their original order.
//   Stage 2 (depth): on the model after stage 1, remove N_attn attention sublayers greedily, each
//   step the one whose removal gives the lowest calibration perplexity (every remaining attention is
//   a candidate; ties to the lower layer). The reference scores stage 2 on one 2048-token sample:
//   --search-samples (default 1).
// The counts come from twossp_formula.h. Reference calibration: 32 consecutive 2048-token windows of
// C4 train without BOS (--sampler consecutive).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "lopper/prune/search/greedy_search.h"
#include "lopper/prune/search/twossp_formula.h"
#include "lopper/prune/surgery.h"
#include "lopper/prune/width/ffn_importance.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

class TwoSsp : public SearchMethod {
 public:
  std::string name() const override { return "2ssp"; }
  std::string description() const override {
    return "2SSP: FFN channels by activation norm in every layer, then attention sublayers greedily by calibration "
           "perplexity, balanced by the paper's formula";
  }
  nlohmann::json settings(const SearchOptions& o) const override {
    return {{"sparsity", o.sparsity ? nlohmann::json(*o.sparsity) : nlohmann::json(nullptr)}, {"alpha", o.alpha},
            {"search_samples", o.search_samples == 0 ? 1 : o.search_samples}};
  }
  void validate(const Model& m, const SearchOptions& o) const override {
    check(o.sparsity.has_value(), "2ssp takes --sparsity S (fraction of decoder-layer parameters), not --remove / "
          "--ratio");
    check(!o.remove && !o.ratio, "2ssp takes --sparsity S, not --remove / --ratio");
    check(o.search_samples >= 0, "--search-samples {} must not be negative", o.search_samples);
    twossp_formula(m.config, *o.sparsity, o.alpha);
  }

  SearchResult run(const Model& m, const CalibData& calib, const SearchOptions& o) const override {
    validate(m, o);
    auto f = twossp_formula(m.config, *o.sparsity, o.alpha);
    SearchResult r;
    r.unit = "sublayers";
    r.details["formula"] = f.to_json();

    // Stage 1 on the dense model, all calibration samples.
    auto imp = ffn_importance(m, calib.ids, o.engine.micro_batch);
    Model stage1 = m;  // weights are replaced, not modified, by the surgery
    for (int l = 0; l < m.config.num_layers(); ++l) {
      r.keep_channels[l] = top_channels(imp[l], f.keep);
      keep_mlp_channels(stage1, l, r.keep_channels[l]);
    }
    r.details["stage1"] = {{"ffn_keep", f.keep}, {"d_ff", f.d_ff}, {"samples", calib.ids.size(0)},
                           {"importance", "mean over samples of the L2 norm over tokens of down_proj's input"}};

    // Stage 2: greedy attention removal on the stage-1 model.
    const int64_t n2 = o.search_samples == 0 ? 1 : o.search_samples;
    CandidateEngine engine(stage1, rows_of(calib, n2), SearchMetric::Nll, o.engine);
    const int L = m.config.num_layers();
    GreedySpec spec;
    spec.label = "2ssp attention";
    spec.rows = engine.all_rows();
    spec.expected_steps = f.n_attn;
    spec.candidates = [&](const SublayerSet& cur, int) {
      GreedyCandidates c;
      for (int l = 0; l < L; ++l)
        if (!cur.attn_removed(l)) {
          c.groups.push_back({2 * l});
          c.labels.push_back(sublayer_label(2 * l));
        }
      return c;
    };
    spec.done = [&](const SublayerSet&, int steps) { return steps >= f.n_attn; };
    r.removed = run_greedy(engine, SublayerSet(L), spec, o, r.steps);
    r.details["stage2"] = {{"n_attn", f.n_attn}, {"samples", n2}};
    r.engine = engine.report();
    return r;
  }
};

}  // namespace

std::unique_ptr<SearchMethod> make_2ssp() { return std::make_unique<TwoSsp>(); }

}  // namespace lopper
