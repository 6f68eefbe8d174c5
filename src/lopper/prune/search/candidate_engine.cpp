#include "lopper/prune/search/candidate_engine.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>

#include "lopper/eval/perplexity.h"
#include "lopper/model/device.h"
#include "lopper/util/error.h"

namespace lopper {

SearchMetric parse_search_metric(const std::string& s) {
  if (s == "nll" || s == "ppl") return SearchMetric::Nll;
  if (s == "kl") return SearchMetric::Kl;
  fail("--metric \"{}\" is not known (nll, kl)", s);
}

const char* search_metric_name(SearchMetric m) { return m == SearchMetric::Nll ? "nll" : "kl"; }

CandidateEngine::CandidateEngine(const Model& model, const at::Tensor& ids, SearchMetric metric,
                                 const EngineOptions& opts)
    : model_(model), metric_(metric), opts_(opts), base_(model.config.num_layers()) {
  c10::InferenceMode guard;
  check(ids.dim() == 2 && ids.size(0) > 0 && ids.size(1) >= 2, "calibration ids must be a [N, T] batch with T >= 2");
  check(opts_.micro_batch >= 1, "--micro-batch {} must be at least 1", opts_.micro_batch);
  check(opts_.cache_budget_gb >= 0, "--cache-budget {} GB must not be negative", opts_.cache_budget_gb);
  ids_ = ids.to(model.device, at::kLong);
  // An offloaded model's device memory is the budget's: cached states go to host memory.
  cache_device_ = opts_.cache_device != "auto" ? parse_device(opts_.cache_device)
                  : model.offloaded()          ? c10::Device(c10::kCPU)
                                               : model.device;
  cache_dtype_ = opts_.cache_dtype == "auto" ? model.dtype : parse_dtype(opts_.cache_dtype, cache_device_);
  choose_boundaries();

  // One dense pass: the base (nothing removed) boundaries and, for KL, the dense final states.
  const int L = num_layers();
  const int64_t N = num_rows(), T = seqlen(), C = model.config.hidden_size;
  states_.assign(L + 1, at::Tensor());
  auto topts = at::TensorOptions().device(cache_device_).dtype(cache_dtype_);
  for (int b : cached_) states_[b] = at::empty({N, T, C}, topts);
  if (metric_ == SearchMetric::Kl) dense_final_ = at::empty({N, T, C}, topts);
  for (int64_t i = 0; i < N; i += opts_.micro_batch) {
    int64_t n = std::min(opts_.micro_batch, N - i);
    at::Tensor h = model.embed(ids_.narrow(0, i, n));  // [n, T, C]
    ForwardContext ctx;
    for (int l = 0; l < L; ++l) {
      if (states_[l].defined()) states_[l].narrow(0, i, n).copy_(h);
      h = model.run_layer(l, h, ctx);
    }
    if (dense_final_.defined()) dense_final_.narrow(0, i, n).copy_(h);
  }
}

void CandidateEngine::choose_boundaries() {
  const int L = num_layers();
  bytes_per_boundary_ = ids_.size(0) * ids_.size(1) * model_.config.hidden_size *
                        static_cast<int64_t>(c10::elementSize(cache_dtype_));
  double budget = opts_.cache_budget_gb * 1024.0 * 1024.0 * 1024.0;
  if (opts_.cache_budget_gb == 0) {
    const int64_t avail = available_memory_bytes(cache_device_);
    budget = avail > 0 ? 0.5 * static_cast<double>(avail) : 8.0 * 1024.0 * 1024.0 * 1024.0;
  }
  budget_bytes_ = budget;
  double left = budget;
  if (metric_ == SearchMetric::Kl) {
    check(static_cast<double>(bytes_per_boundary_) <= budget,
          "the KL reference (dense final states, {:.2f} GB) does not fit the cache budget ({:.2f} GB); raise "
          "--cache-budget, use --cache-device cpu or --cache-dtype bf16, or use fewer calibration tokens",
          bytes_per_boundary_ / 1073741824.0, budget / 1073741824.0);
    left -= static_cast<double>(bytes_per_boundary_);
  }
  // Boundary b is the input of layer b; a candidate never needs the state after the last layer.
  int fit = static_cast<int>(std::min<double>(L, std::floor(left / static_cast<double>(bytes_per_boundary_))));
  int k = opts_.checkpoints < 0 ? fit : std::min({opts_.checkpoints, L, fit});
  cached_.clear();
  for (int j = 0; j < k; ++j) cached_.push_back(static_cast<int>((static_cast<int64_t>(j) * L) / k));
}

std::vector<RowSpan> CandidateEngine::all_rows() const {
  std::vector<RowSpan> r;
  for (int64_t i = 0; i < num_rows(); ++i) r.push_back({i, seqlen()});
  return r;
}

at::Tensor CandidateEngine::run_from(int from, at::Tensor h, const SublayerSet& removed, int to) {
  ForwardContext ctx;
  for (int l = from; l < to; ++l) {
    bool attn = !removed.attn_removed(l), mlp = !removed.mlp_removed(l);
    if (!attn && !mlp) continue;
    h = model_.run_layer(l, h, ctx, attn, mlp);
    ++layer_runs_;
  }
  return h;
}

void CandidateEngine::set_base(const SublayerSet& base) {
  c10::InferenceMode guard;
  check(base.num_layers() == num_layers(), "removal set has {} layers, the model {}", base.num_layers(),
        num_layers());
  const int f = base_.first_difference(base);
  base_ = base;
  // Boundaries <= f are unchanged; later ones are recomputed from the nearest cached one <= f.
  int last = -1, start = -1;
  for (int b : cached_) {
    if (b <= f) start = b;
    else last = b;
  }
  if (last < 0) return;
  const int64_t N = num_rows();
  for (int64_t i = 0; i < N; i += opts_.micro_batch) {
    int64_t n = std::min(opts_.micro_batch, N - i);
    at::Tensor h = start >= 0 ? states_[start].narrow(0, i, n).to(model_.device, model_.dtype)
                              : model_.embed(ids_.narrow(0, i, n));
    for (int l = std::max(start, 0); l < last; ++l) {
      h = run_from(l, h, base_, l + 1);
      if (l + 1 > f && states_[l + 1].defined()) states_[l + 1].narrow(0, i, n).copy_(h);
    }
  }
}

at::Tensor CandidateEngine::run_sublayers(at::Tensor h, int from, int to, const SublayerSet& removed,
                                         ForwardContext* ctx) {
  check(from >= 0 && from <= to && to <= 2 * num_layers(), "sublayer range [{}, {}) is outside 0..{}", from, to,
        2 * num_layers());
  ForwardContext local;
  ForwardContext& c = ctx ? *ctx : local;
  for (int s = from; s < to; ++s) {
    if (removed.removed(s)) continue;
    const bool attn = sublayer_kind(s) == SublayerKind::Attention;
    h = model_.run_layer(sublayer_layer(s), h, c, attn, !attn);  // a missing sublayer passes h through
    ++sublayer_runs_;
  }
  return h;
}

at::Tensor CandidateEngine::base_state(int s, int64_t row0, int64_t n) {
  check(s >= 0 && s <= 2 * num_layers(), "sublayer {} is outside 0..{}", s, 2 * num_layers());
  check(row0 >= 0 && n >= 1 && row0 + n <= num_rows(), "rows [{}, {}) are outside the {} calibration rows", row0,
        row0 + n, num_rows());
  int start = -1;
  for (int b : cached_)
    if (2 * b <= s) start = b;
  at::Tensor h = start >= 0 ? states_[start].narrow(0, row0, n).to(model_.device, model_.dtype)
                            : model_.embed(ids_.narrow(0, row0, n));  // [n, T, C]
  return run_sublayers(h, 2 * std::max(start, 0), s, base_);
}

double CandidateEngine::metric_sum(const at::Tensor& h, const at::Tensor& ids, const at::Tensor& dense_h) {
  // The head runs a few rows at a time so that the [rows, T, V] logits (and, for KL, their fp64
  // log-probabilities) stay near 2^28 elements: one 2048-token row of a 128k vocabulary at a time.
  const int64_t n = h.size(0), T = h.size(1);
  const int64_t step = std::max<int64_t>(1, (int64_t{1} << 28) / std::max<int64_t>(1, T * model_.config.vocab_size));
  double total = 0;
  for (int64_t i = 0; i < n; i += step) {
    const int64_t r = std::min(step, n - i);
    auto logits = model_.lm_head(model_.final_norm(h.narrow(0, i, r)));  // [r, T, V]
    if (metric_ == SearchMetric::Nll) {
      total += next_token_nll_sum(logits, ids.narrow(0, i, r), 1).sum().item<double>();
      continue;
    }
    // fp64: KL is a small difference of large log-probabilities; in fp32 its rounding error alone is
    // ~1e-6 of the value.
    const int64_t t = T - 1;  // the last position predicts nothing in the data
    auto logq = at::log_softmax(logits.narrow(1, 0, t).to(at::kDouble), -1);  // [r, t, V]
    logits = at::Tensor();
    auto dense = dense_h.narrow(0, i, r).to(model_.device, model_.dtype);
    auto logp = at::log_softmax(model_.lm_head(model_.final_norm(dense)).narrow(1, 0, t).to(at::kDouble), -1);
    total += (logp.exp() * (logp - logq)).sum().item<double>();
  }
  return total;
}

at::Tensor CandidateEngine::boundary_rows(int b, const at::Tensor& rows, int64_t len) const {
  return states_[b].index_select(0, rows.to(cache_device_)).narrow(1, 0, len).to(model_.device, model_.dtype);
}

std::optional<double> CandidateEngine::evaluate(const SublayerSet& removed, const std::vector<RowSpan>& rows_in,
                                                double bound) {
  c10::InferenceMode guard;
  check(removed.num_layers() == num_layers(), "removal set has {} layers, the model {}", removed.num_layers(),
        num_layers());
  const auto rows = rows_in.empty() ? all_rows() : rows_in;
  int64_t tokens = 0;
  for (const auto& r : rows) {
    check(r.row >= 0 && r.row < num_rows() && r.len >= 2 && r.len <= seqlen(), "row span ({}, {}) is outside the "
          "calibration batch [{}, {}]", r.row, r.len, num_rows(), seqlen());
    tokens += r.len - 1;
  }
  ++evaluations_;
  // Start from the nearest cached boundary at or before the first layer that differs from the base.
  const int f = base_.first_difference(removed);
  int start = -1;
  for (int b : cached_)
    if (b <= f) start = b;
  const bool can_stop = opts_.bounded && std::isfinite(bound);
  double sum = 0;
  for (size_t i = 0; i < rows.size();) {
    // A micro-batch: up to micro_batch consecutive spans of one length.
    size_t j = i;
    std::vector<int64_t> idx;
    while (j < rows.size() && static_cast<int64_t>(idx.size()) < opts_.micro_batch && rows[j].len == rows[i].len)
      idx.push_back(rows[j++].row);
    const int64_t len = rows[i].len;
    auto index = at::tensor(idx, at::kLong);
    auto ids = ids_.index_select(0, index.to(ids_.device())).narrow(1, 0, len);  // [n, t]
    at::Tensor h = start >= 0 ? boundary_rows(start, index, len) : model_.embed(ids);
    h = run_from(std::max(start, 0), h, removed, num_layers());
    at::Tensor dense;
    if (metric_ == SearchMetric::Kl) dense = dense_final_.index_select(0, index.to(cache_device_)).narrow(1, 0, len);
    sum += metric_sum(h, ids, dense);
    i = j;
    // Every term is >= 0, so sum / tokens only grows: once above the bound, the result is too.
    if (can_stop && i < rows.size() && sum / static_cast<double>(tokens) > bound) {
      ++stopped_early_;
      return std::nullopt;
    }
  }
  return sum / static_cast<double>(tokens);
}

nlohmann::json CandidateEngine::report() const {
  const double gb = 1024.0 * 1024.0 * 1024.0;
  const double ref = dense_final_.defined() ? static_cast<double>(bytes_per_boundary_) : 0.0;
  return {{"metric", search_metric_name(metric_)},
          {"boundaries_cached", cached_},
          {"cache_device", cache_device_.str()},
          {"cache_dtype", dtype_name(cache_dtype_)},
          {"cache_gb", static_cast<double>(cached_.size()) * static_cast<double>(bytes_per_boundary_) / gb},
          {"kl_reference", metric_ == SearchMetric::Kl ? "dense final hidden states, LM head per micro-batch" : "none"},
          {"kl_reference_gb", ref / gb},
          {"budget_gb", budget_bytes_ / gb},
          {"bounded", opts_.bounded},
          {"micro_batch", opts_.micro_batch},
          {"evaluations", evaluations_},
          {"stopped_early", stopped_early_},
          {"layer_runs", layer_runs_},
          {"sublayer_runs", sublayer_runs_}};
}

}  // namespace lopper
