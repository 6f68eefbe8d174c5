// `heads`: attention heads removed in whole KV groups (one key/value head with the query heads that
// share it), so the pruned layer is still valid grouped-query attention.
//
// Score of group g in layer l (one pass over the calibration tokens on the dense model):
//   c_g = ctx[:, heads of g] @ W_o[:, columns of g]^T      the group's share of o_proj's output [tokens, C]
//   s_{l,g} = sqrt(sum_t ||c_g,t||^2 / sum_t ||h_t||^2)     h: the residual stream entering layer l
// i.e. how much the group moves the residual stream, relative to the stream's size, so scores of
// different layers are comparable for global ranking. The lowest-scoring groups are removed: the
// same number in every layer (uniform) or the lowest over the whole model (global; a layer that
// loses every group loses its attention).
//
// Optional o_proj refit (--refit): layers are revisited in order, each fed by its pruned
// predecessors; with X the attention context of all heads of the dense layer on those inputs and
// S the kept heads' columns, o_proj's kept columns become the least-squares solution of
// X_S W_S^T = X W^T: W_S^T = (G_SS + damp * mean(diag G_SS) I)^{-1} (G W^T)_S, G = X^T X (fp64).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "lopper/prune/surgery.h"
#include "lopper/prune/width/gram_refit.h"
#include "lopper/prune/width/width.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

// Per-layer sums of squared group contributions and of the squared input stream.
class GroupContributions : public TapHandler {
 public:
  explicit GroupContributions(const Model& m) : m_(m), contrib_(m.config.num_layers()), stream_(m.config.num_layers(), 0) {}
  bool wants(int l, Tap t) const override {
    return m_.config.layers[l].has_attn && (t == Tap::AttnContext || t == Tap::LayerIn);
  }
  void on(int l, Tap t, at::Tensor& x) override {
    if (t == Tap::LayerIn) {  // x [n, T, C]
      stream_[l] += x.to(at::kDouble).pow(2).sum().item<double>();
      return;
    }
    const auto& s = m_.config.layers[l];
    const auto& o = m_.weights.layers[l].attn->o;  // [C, H*D]
    const int64_t width = (s.num_heads / s.num_kv_heads) * m_.config.head_dim;
    auto& acc = contrib_[l];
    if (acc.empty()) acc.assign(s.num_kv_heads, 0.0);
    for (int g = 0; g < s.num_kv_heads; ++g) {
      auto c = at::matmul(x.narrow(-1, g * width, width), o.narrow(1, g * width, width).t());  // [n, T, C]
      acc[g] += c.to(at::kDouble).pow(2).sum().item<double>();
    }
  }
  // s_{l,g} per layer (empty for layers without attention).
  std::vector<std::vector<double>> scores() const {
    std::vector<std::vector<double>> out(contrib_.size());
    for (size_t l = 0; l < contrib_.size(); ++l)
      for (double v : contrib_[l]) out[l].push_back(std::sqrt(v / std::max(stream_[l], 1e-300)));
    return out;
  }

 private:
  const Model& m_;
  std::vector<std::vector<double>> contrib_;
  std::vector<double> stream_;
};

// Collects the Gram matrix of o_proj's input (all heads) of one layer.
class ContextGram : public TapHandler {
 public:
  explicit ContextGram(int layer) : layer_(layer) {}
  bool wants(int l, Tap t) const override { return l == layer_ && t == Tap::AttnContext; }
  void on(int, Tap, at::Tensor& x) override {  // x [n, T, H*D]
    auto flat = x.reshape({-1, x.size(-1)}).to(at::kDouble);
    gram = gram.defined() ? gram + flat.t().matmul(flat) : flat.t().matmul(flat);  // [H*D, H*D]
  }
  at::Tensor gram;

 private:
  int layer_;
};

std::vector<std::vector<double>> score_groups(const Model& m, const at::Tensor& ids, int64_t micro) {
  c10::InferenceMode guard;
  GroupContributions taps(m);
  const int64_t N = ids.size(0);
  Progress bar("heads scores", N, "samples");
  for (int64_t i = 0; i < N; i += micro) {
    const int64_t n = std::min(micro, N - i);
    ForwardContext ctx;
    ctx.taps = &taps;
    m.run_layers(m.embed(ids.narrow(0, i, n).to(m.device)), 0, m.config.num_layers(), ctx);
    bar.advance(n);
  }
  bar.finish();
  return taps.scores();
}

// Fraction of KV groups to remove for --params R: R * decoder params / attention params.
double ratio_for_params(const ModelConfig& c, double params) {
  auto counts = count_params(c);
  const int64_t decoder = counts.total - counts.embeddings;
  int64_t attn = 0;
  for (const auto& s : c.layers)
    if (s.has_attn) attn += 2 * (s.num_heads + s.num_kv_heads) * c.head_dim * c.hidden_size;
  const double r = params * static_cast<double>(decoder) / static_cast<double>(attn);
  check(r < 1, "--params {}: attention projections hold only {:.2f}% of the decoder parameters", params,
        100.0 * static_cast<double>(attn) / static_cast<double>(decoder));
  return r;
}

// Groups to remove per layer: the lowest scores, uniform (same count per layer) or global.
std::vector<std::vector<int64_t>> choose_removed(const ModelConfig& c, const std::vector<std::vector<double>>& scores,
                                                 const WidthOptions& o, double ratio) {
  const int L = c.num_layers();
  std::vector<std::vector<int64_t>> removed(L);
  struct Cand { double score; int layer; int64_t group; };
  std::vector<Cand> all;
  int64_t total_groups = 0;
  for (int l = 0; l < L; ++l)
    for (size_t g = 0; g < scores[l].size(); ++g) all.push_back({scores[l][g], l, static_cast<int64_t>(g)});
  for (const auto& s : c.layers) total_groups += s.has_attn ? s.num_kv_heads : 0;
  auto by_score = [](const Cand& a, const Cand& b) {
    return a.score != b.score ? a.score < b.score : (a.layer != b.layer ? a.layer < b.layer : a.group < b.group);
  };
  if (o.allocation == "global") {
    const int64_t n = o.kv_groups ? static_cast<int64_t>(*o.kv_groups) * static_cast<int64_t>(std::count_if(
                                        c.layers.begin(), c.layers.end(), [](const LayerSpec& s) { return s.has_attn; }))
                                  : static_cast<int64_t>(std::nearbyint(ratio * static_cast<double>(total_groups)));
    check(n >= 1, "--ratio {} removes no KV group ({} in the model)", ratio, total_groups);
    check(n < total_groups, "the target removes all {} KV groups of the model", total_groups);
    std::stable_sort(all.begin(), all.end(), by_score);
    for (int64_t i = 0; i < n; ++i) removed[all[i].layer].push_back(all[i].group);
  } else {
    int64_t any = 0;
    for (int l = 0; l < L; ++l) {
      const auto& s = c.layers[l];
      if (!s.has_attn) continue;
      const int64_t n = o.kv_groups ? *o.kv_groups : static_cast<int64_t>(std::nearbyint(ratio * s.num_kv_heads));
      check(n <= s.num_kv_heads, "--kv-groups {}: layer {} has only {} KV groups", n, l, s.num_kv_heads);
      std::vector<Cand> layer;
      for (const auto& a : all)
        if (a.layer == l) layer.push_back(a);
      std::stable_sort(layer.begin(), layer.end(), by_score);
      for (int64_t i = 0; i < n; ++i) removed[l].push_back(layer[i].group);
      any += n;
    }
    check(any >= 1, "--ratio {} removes no KV group in any layer (round(ratio x groups) is 0)", ratio);
  }
  for (auto& r : removed) std::sort(r.begin(), r.end());
  return removed;
}

// Re-fits o_proj of every layer that lost groups; `dense` is the model before surgery (the pruned
// `m` shares no changed tensors with it).
nlohmann::json refit_o_proj(Model& m, const Model& dense, const std::vector<std::vector<int64_t>>& kept_groups,
                            const at::Tensor& ids, const WidthOptions& o) {
  c10::InferenceMode guard;
  const int L = m.config.num_layers();
  const int64_t N = ids.size(0), micro = std::max<int64_t>(1, o.micro_batch);
  std::vector<at::Tensor> hidden;  // per micro-batch boundary states of the pruned model
  for (int64_t i = 0; i < N; i += micro) hidden.push_back(m.embed(ids.narrow(0, i, std::min(micro, N - i)).to(m.device)));
  nlohmann::json out = nlohmann::json::array();
  Progress bar("heads o_proj refit", L, "layers");
  for (int l = 0; l < L; ++l) {
    const auto& ds = dense.config.layers[l];
    const bool refit = ds.has_attn && m.config.layers[l].has_attn && m.config.layers[l].num_kv_heads < ds.num_kv_heads;
    if (refit) {
      ContextGram gram(l);
      for (auto& h : hidden) {
        ForwardContext ctx;
        ctx.taps = &gram;
        dense.run_layer(l, h, ctx, true, false);  // the dense attention on the pruned predecessors' output
      }
      const int64_t width = (ds.num_heads / ds.num_kv_heads) * dense.config.head_dim;
      std::vector<int64_t> cols;
      for (auto g : kept_groups[l])
        for (int64_t j = g * width; j < (g + 1) * width; ++j) cols.push_back(j);
      const auto& w_full = dense.weights.layers[l].attn->o;  // [C, H*D]
      auto r = gram_refit(gram.gram, w_full.t(), cols, o.damp);  // [|S|, C]
      c10::InferenceMode normal(false);  // the model keeps ordinary tensors, whatever the caller's mode
      auto& w = m.weights.layers[l].attn->o;
      w = r.weight.t().to(w.scalar_type()).clone(at::MemoryFormat::Contiguous);  // [C, |S|]
      out.push_back({{"layer", l}, {"relative_error", r.relative_error}});
    }
    for (auto& h : hidden) {
      ForwardContext ctx;
      h = m.run_layer(l, h, ctx);
    }
    bar.advance();
  }
  bar.finish();
  return out;
}

class HeadsMethod : public WidthMethod {
 public:
  std::string name() const override { return "heads"; }
  std::string description() const override {
    return "attention heads removed in whole KV groups, lowest relative contribution to o_proj's output first; "
           "--allocation uniform | global, optional least-squares o_proj refit (--refit)";
  }
  void validate(const ModelConfig& c, const WidthOptions& o) const override {
    check_width_target(o, name());
    check(o.allocation == "uniform" || o.allocation == "global",
          "--allocation \"{}\" is not known for --method heads (uniform | global)", o.allocation);
    check(o.variant.empty() || o.variant == "canonical", "--variant applies to osscar, not heads");
    check(!o.align, "--align applies to FFN channels (osscar, ffn-l2) and slicegpt, not to heads");
    bool any = false;
    for (int l = 0; l < c.num_layers(); ++l) {
      const auto& s = c.layers[l];
      if (!s.has_attn) continue;
      any = true;
      check(s.num_kv_heads > 0 && s.num_heads % s.num_kv_heads == 0,
            "layer {}: {} query heads do not divide into {} KV heads, so heads cannot be removed in KV groups", l,
            s.num_heads, s.num_kv_heads);
    }
    check(any, "the model has no attention sublayer to prune");
    if (o.kv_groups && o.allocation == "uniform")
      for (int l = 0; l < c.num_layers(); ++l)
        check(!c.layers[l].has_attn || *o.kv_groups <= c.layers[l].num_kv_heads,
              "--kv-groups {}: layer {} has only {} KV groups", *o.kv_groups, l, c.layers[l].num_kv_heads);
    if (o.params) ratio_for_params(c, *o.params);
  }
  WidthResult run(Model& m, const CalibData& calib, const WidthOptions& o) const override {
    validate(m.config, o);
    const double ratio = o.params ? ratio_for_params(m.config, *o.params) : o.ratio.value_or(0.0);
    WidthResult r;
    r.plan = PruningPlan::for_model(m, name());
    auto t0 = std::chrono::steady_clock::now();
    auto scores = score_groups(m, calib.ids, std::max<int64_t>(1, o.micro_batch));
    auto removed = choose_removed(m.config, scores, o, ratio);
    const Model dense = m;  // shares tensors; surgery replaces rather than edits them
    std::vector<std::vector<int64_t>> kept(m.config.num_layers());
    nlohmann::json layers = nlohmann::json::array();
    for (int l = 0; l < m.config.num_layers(); ++l) {
      const auto& s = m.config.layers[l];
      if (!s.has_attn) continue;
      for (int64_t g = 0; g < s.num_kv_heads; ++g)
        if (!std::binary_search(removed[l].begin(), removed[l].end(), g)) kept[l].push_back(g);
      layers.push_back({{"layer", l}, {"scores", scores[l]}, {"kv_groups", s.num_kv_heads},
                        {"removed", removed[l]}, {"kept", kept[l]}});
      if (removed[l].empty()) continue;
      if (kept[l].empty()) {
        r.plan.actions.push_back({"remove_attention", l, {}});
        remove_attention(m, l);
      } else {
        r.plan.actions.push_back({"keep_kv_groups", l, kept[l]});
        keep_kv_groups(m, l, kept[l]);
      }
    }
    r.details["score"] = "sqrt(sum ||group's o_proj output||^2 / sum ||layer input||^2) over calibration tokens";
    r.details["ratio"] = ratio;
    r.details["allocation"] = o.allocation;
    r.details["layers"] = layers;
    r.details["score_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.refit) {
      r.details["refit"] = refit_o_proj(m, dense, kept, calib.ids, o);
      r.plan.refits_omitted = true;
    }
    return r;
  }
};

}  // namespace

std::unique_ptr<WidthMethod> make_heads_method() { return std::make_unique<HeadsMethod>(); }

}  // namespace lopper
