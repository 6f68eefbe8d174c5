// `slicegpt`: the width method (targets, validation, report); the rotation is slicegpt_rotate.cpp.
#include "lopper/prune/width/slicegpt.h"

#include <chrono>

#include <fmt/format.h>

#include "lopper/prune/width/width.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

constexpr int64_t kDefaultAlign = 8;  // run_slicegpt.py's --round-interval default

int64_t decoder_params(const ModelConfig& c) {
  int64_t n = 0;
  for (auto p : count_params(c).per_layer) n += p;
  return n;
}

int64_t target_dim(const ModelConfig& c, const WidthOptions& o) {
  const int64_t align = o.align_or(kDefaultAlign);
  return o.params ? slicegpt_dim_for_params(c, *o.params, align) : slicegpt_dim_for_ratio(c, o.ratio.value(), align);
}

class SliceGptMethod : public WidthMethod {
 public:
  std::string name() const override { return "slicegpt"; }
  std::string description() const override {
    return "SliceGPT: residual stream rotated into its calibration PCA basis at every sublayer and sliced to "
           "d' = (1 - ratio) x hidden (multiple of --align, default 8), shortcut matrices between sublayers; "
           "head not sliced";
  }
  void validate(const ModelConfig& c, const WidthOptions& o) const override {
    check_width_target(o, name());
    check(!o.refit, "--refit applies to --method heads, not slicegpt");
    check(o.variant.empty() || o.variant == "canonical", "--variant applies to osscar, not slicegpt");
    check(o.allocation == "uniform", "--allocation applies to heads; slicegpt slices every sublayer to one width");
    check(!is_sliced(c), "the model is already SliceGPT-rotated; slicing it again is not supported");
    target_dim(c, o);  // a width of 0 or of the whole hidden size fails here, before calibration
  }
  WidthResult run(Model& m, const CalibData& calib, const WidthOptions& o) const override {
    validate(m.config, o);
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t d = m.config.hidden_size, k = target_dim(m.config, o);
    const int64_t dense = decoder_params(m.config);
    WidthResult r;
    r.plan = PruningPlan::for_model(m, name());  // the input model's fingerprint; no index actions
    r.plan_reapplies = false;
    auto pca = slicegpt_rotate(m, calib.ids, k, o.damp, o.micro_batch);
    const int64_t after = decoder_params(m.config);
    const double removed = 1.0 - static_cast<double>(after) / static_cast<double>(dense);
    r.details["hidden_size"] = d;
    r.details["new_dim"] = k;
    r.details["final_dim"] = m.config.slicegpt->final_dim();
    r.details["align"] = o.align_or(kDefaultAlign);
    r.details["hidden_removed_fraction"] = 1.0 - static_cast<double>(k) / static_cast<double>(d);
    r.details["decoder_params_dense"] = dense;
    r.details["decoder_params"] = after;
    r.details["decoder_params_removed_fraction"] = removed;
    r.details["pca"] = std::move(pca);
    r.details["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.details["summary"] = fmt::format("hidden {} -> {} (last sublayer's output and the head keep {}); "
                                       "decoder-layer parameters {} -> {} ({:.2f}% removed, shortcuts included)",
                                       d, k, d, dense, after, 100.0 * removed);
    return r;
  }
};

}  // namespace

SliceGptSpec slicegpt_spec(const ModelConfig& c, int64_t new_dim) {
  const int64_t d = c.hidden_size;
  // The last sublayer that exists writes the stream the final norm and the (unsliced) head read.
  int last = -1;
  bool last_is_mlp = false;
  for (int i = 0; i < c.num_layers(); ++i) {
    if (c.layers[i].has_attn || c.layers[i].has_mlp) {
      last = i;
      last_is_mlp = c.layers[i].has_mlp;
    }
  }
  SliceGptSpec s;
  s.norm_dim = d;
  s.embedding_dim = last < 0 ? d : new_dim;
  int64_t w = s.embedding_dim;
  for (int i = 0; i < c.num_layers(); ++i) {
    const LayerSpec& l = c.layers[i];
    SlicedLayer sl;
    sl.attn_in = w;
    sl.mlp_in = !l.has_attn ? w : (i == last && !last_is_mlp) ? d : new_dim;
    sl.mlp_out = !l.has_mlp ? sl.mlp_in : (i == last && last_is_mlp) ? d : new_dim;
    s.layers.push_back(sl);
    w = sl.mlp_out;
  }
  return s;
}

int64_t slicegpt_decoder_params(const ModelConfig& c, int64_t new_dim) {
  ModelConfig s = c;
  s.tie_word_embeddings = false;
  s.slicegpt = slicegpt_spec(c, new_dim);
  return decoder_params(s);
}

int64_t slicegpt_dim_for_ratio(const ModelConfig& c, double ratio, int64_t align) {
  const int64_t d = c.hidden_size;
  check(align >= 1 && align <= d, "--align {} must be in [1, hidden size {}]", align, d);
  auto k = static_cast<int64_t>((1.0 - ratio) * static_cast<double>(d));  // int() truncates
  k -= k % align;                                                        // round down to the interval
  check(k > 0, "--ratio {} leaves no hidden dimension: int((1 - {}) x {}) rounded down to a multiple of --align {} is 0",
        ratio, ratio, d, align);
  check(k < d, "--ratio {} slices nothing: the hidden width stays {}", ratio, d);
  return k;
}

int64_t slicegpt_dim_for_params(const ModelConfig& c, double params, int64_t align) {
  const int64_t d = c.hidden_size;
  check(align >= 1 && align <= d, "--align {} must be in [1, hidden size {}]", align, d);
  const int64_t dense = decoder_params(c);
  const double budget = (1.0 - params) * static_cast<double>(dense);
  // Parameters grow with the width, so the first (widest) width within budget is the answer.
  for (int64_t k = ((d - 1) / align) * align; k >= align; k -= align)
    if (static_cast<double>(slicegpt_decoder_params(c, k)) <= budget) return k;
  fail("--params {}: even a hidden width of {} (--align) keeps {} of the {} decoder-layer parameters", params, align,
       slicegpt_decoder_params(c, align), dense);
}

std::unique_ptr<WidthMethod> make_slicegpt_method() { return std::make_unique<SliceGptMethod>(); }

}  // namespace lopper
