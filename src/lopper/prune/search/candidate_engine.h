// The candidate-evaluation engine shared by every search method (SLEB, BlockPruner, 2SSP, EvoPress,
// SPRINT): the metric of "the model with these sublayers removed" on calibration samples, computed
// without editing the model and without recomputing what a candidate does not change.
//
// The engine keeps a *base* removal set (the search's current model) and the hidden states entering
// chosen layers under that base ("boundaries": all L + 1, K evenly spaced ones, or none), for every
// calibration sample, within a memory budget. A candidate that first differs from the base at layer f
// starts from the nearest cached boundary <= f and runs only the layers after it. With no boundaries
// cached it is the plain full recompute (embedding, every layer, head) - the reference's way.
//
// Metrics (lower is better), means over every predicted token of the chosen rows:
//   nll  next-token negative log-likelihood (exp of it is the perplexity; the sum SLEB uses is the
//        mean times the fixed token count, so the choices are the same)
//   kl   KL(P_dense || Q_candidate) over next-token distributions (EvoPress). The dense reference is
//        kept as the dense model's final hidden states [N, T, C] (in the cache dtype and place) and
//        turned into log-probabilities by the LM head per micro-batch: C numbers per token instead
//        of V (32-128x less memory than stored logits) for one extra LM-head product per batch.
//
// Bounded evaluation: every token's NLL / KL is >= 0, so a partial sum over the first micro-batches
// is a lower bound of the final mean. evaluate(..., bound) stops as soon as that lower bound exceeds
// `bound` and returns nullopt: a greedy search that only needs the argmin skips most of the work for
// candidates that are clearly worse, and still makes exactly the same choice.
#pragma once
#include <ATen/core/Tensor.h>

#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"
#include "lopper/prune/search/sublayers.h"

namespace lopper {

enum class SearchMetric { Nll, Kl };
SearchMetric parse_search_metric(const std::string& s);  // "nll" | "kl"
const char* search_metric_name(SearchMetric m);

struct EngineOptions {
  int64_t micro_batch = 8;
  // Cached boundaries: -1 every layer boundary (as many as the budget allows), 0 none (full
  // recompute for every candidate), K > 0 at most K evenly spaced boundaries.
  int checkpoints = -1;
  std::string cache_device = "auto";  // auto: the model's device | cpu (host memory)
  std::string cache_dtype = "auto";   // auto: the model's dtype | f32 | bf16 | f16
  double cache_budget_gb = 0;         // cached boundaries + dense reference; 0: half of what the
                                      // cache device has available when the engine starts
  bool bounded = true;                // allow evaluate() to stop early against a bound
};

// A calibration row, possibly cut to its first `len` tokens (EvoPress's token budgets).
struct RowSpan {
  int64_t row = 0;
  int64_t len = 0;
};

class CandidateEngine {
 public:
  // ids [N, T] calibration samples.
  CandidateEngine(const Model& model, const at::Tensor& ids, SearchMetric metric, const EngineOptions& opts);

  const Model& model() const { return model_; }
  int num_layers() const { return model_.config.num_layers(); }
  int64_t num_rows() const { return ids_.size(0); }
  int64_t seqlen() const { return ids_.size(1); }
  SearchMetric metric() const { return metric_; }
  const SublayerSet& base() const { return base_; }
  std::vector<RowSpan> all_rows() const;

  // Makes `base` the configuration whose boundary states are cached (recomputing only the
  // boundaries after the first layer where it differs from the previous base).
  void set_base(const SublayerSet& base);

  // Mean metric over the tokens of `rows` (default: every row, whole) with `removed` skipped.
  // nullopt when `bound` is finite, bounded evaluation is on, and the result is certain to exceed it.
  std::optional<double> evaluate(const SublayerSet& removed, const std::vector<RowSpan>& rows = {},
                                 double bound = std::numeric_limits<double>::infinity());

  // Sublayer-level access (SPRINT looks at the output of a sublayer, not the model's): the base
  // configuration's hidden state entering sublayer s for rows [row0, row0 + n), computed from the
  // nearest cached boundary at or before s's layer ([n, T, C], model dtype), and a run of sublayers
  // [from, to) with `removed` skipped (ctx: taps, e.g. to capture an MLP's inner activations).
  at::Tensor base_state(int s, int64_t row0, int64_t n);
  at::Tensor run_sublayers(at::Tensor h, int from, int to, const SublayerSet& removed, ForwardContext* ctx = nullptr);

  // Work counters and memory use, for reports and the speed comparison.
  int64_t evaluations() const { return evaluations_; }
  int64_t stopped_early() const { return stopped_early_; }
  int64_t layer_runs() const { return layer_runs_; }  // micro-batch x layer forward passes
  nlohmann::json report() const;

 private:
  at::Tensor run_from(int from, at::Tensor h, const SublayerSet& removed, int to);
  double metric_sum(const at::Tensor& h, const at::Tensor& ids, const at::Tensor& dense_h);
  at::Tensor boundary_rows(int b, const at::Tensor& rows, int64_t len) const;
  void choose_boundaries();

  const Model& model_;
  SearchMetric metric_;
  EngineOptions opts_;
  at::Tensor ids_;                      // [N, T] on the model device
  c10::Device cache_device_{c10::kCPU};
  at::ScalarType cache_dtype_ = at::kFloat;
  std::vector<int> cached_;             // boundary indices kept (sorted; empty: none)
  std::vector<at::Tensor> states_;      // [L + 1]: [N, T, C] where cached, undefined elsewhere
  at::Tensor dense_final_;              // [N, T, C] dense output of the last layer (kl only)
  SublayerSet base_;
  int64_t evaluations_ = 0, stopped_early_ = 0, layer_runs_ = 0;
  int64_t sublayer_runs_ = 0;  // micro-batch x sublayer passes of run_sublayers
  int64_t bytes_per_boundary_ = 0;
  double budget_bytes_ = 0;
};

}  // namespace lopper
