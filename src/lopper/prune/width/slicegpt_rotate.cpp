// SliceGPT's rotate_and_slice_sequential on a lopper Model (algorithm and deviations: slicegpt.h).
//
// The calibration signal is held at one sublayer boundary at a time, as one tensor per micro-batch.
// Weights are rotated in fp64 and cast back to the model dtype; hidden states are rotated in the model
// dtype (the reference's inp @ Q.to(dtype)).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <vector>

#include <fmt/format.h>

#include "lopper/prune/width/slicegpt.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

using at::Tensor;

// pca_calc: the uncentered second moment H = sum over all calibration tokens of x x^T, in fp64.
class Pca {
 public:
  void add(const Tensor& x) {                               // x [n, L, d]
    auto f = x.reshape({-1, x.size(-1)}).to(at::kDouble);   // [n*L, d]
    if (h_.defined()) h_.addmm_(f.t(), f);
    else h_ = f.t().mm(f);                                  // [d, d]
  }
  // Eigenvectors of H + damp * mean(diag H) * I by descending eigenvalue, [d, d] (columns). `kept`: the
  // share of the undamped energy (trace of H) in the first `keep` of them.
  Tensor basis(double damp, int64_t keep, double& kept) {
    check(h_.defined(), "internal: PCA of an empty signal");
    const int64_t d = h_.size(0);
    const double shift = damp * h_.diagonal().mean().item<double>();
    h_.diagonal().add_(shift);
    auto [vals, vecs] = at::linalg_eigh(h_);  // ascending
    h_ = Tensor();
    auto order = at::argsort(vals, /*dim=*/0, /*descending=*/true);
    vals = vals.index_select(0, order);
    const double total = vals.sum().item<double>() - static_cast<double>(d) * shift;
    const double top = vals.narrow(0, 0, keep).sum().item<double>() - static_cast<double>(keep) * shift;
    kept = total > 0 ? top / total : 1.0;
    return vecs.index_select(1, order);
  }

 private:
  Tensor h_;
};

// A linear reading the stream, W [out, d] -> W Qk [out, k].
Tensor rotate_in(const Tensor& w, const Tensor& qk) {
  return w.to(at::kDouble).mm(qk).to(w.scalar_type()).contiguous();
}
// A linear writing the stream, W [d, in] -> Qk^T W [k, in].
Tensor rotate_out(const Tensor& w, const Tensor& qk) {
  return qk.t().mm(w.to(at::kDouble)).to(w.scalar_type()).contiguous();
}
// Its bias b [d] -> b Qk [k]; an absent bias stays absent.
Tensor rotate_bias(const Tensor& b, const Tensor& qk) {
  return b.defined() ? b.to(at::kDouble).matmul(qk).to(b.scalar_type()) : b;
}
// fuse_ln_linear: W [out, d] * norm weight [d] (column scale).
Tensor fold(const Tensor& w, const Tensor& norm) {
  return (w.to(at::kDouble) * norm.to(at::kDouble)).to(w.scalar_type());
}

// Every RMSNorm's weight into the linears that read it; norms become ones (weight-free). A tied LM
// head becomes its own tensor: embedding and head get different rotations.
void fold_norms(Model& m) {
  for (auto& l : m.weights.layers) {
    if (l.attn) {
      auto& a = *l.attn;
      for (Tensor* w : {&a.q, &a.k, &a.v}) *w = fold(*w, a.norm);
      a.norm = at::ones_like(a.norm);
    }
    if (l.mlp) {
      auto& f = *l.mlp;
      for (Tensor* w : {&f.gate, &f.up}) *w = fold(*w, f.norm);
      f.norm = at::ones_like(f.norm);
    }
  }
  m.weights.lm_head = fold(m.weights.lm_head, m.weights.final_norm);
  m.weights.final_norm = at::ones_like(m.weights.final_norm);
  m.config.tie_word_embeddings = false;
}

}  // namespace

nlohmann::json slicegpt_rotate(Model& m, const Tensor& ids, int64_t new_dim, double damp, int64_t micro_batch) {
  c10::InferenceMode guard;
  check(!is_sliced(m.config), "the model is already SliceGPT-rotated; slicing it again is not supported");
  check(ids.dim() == 2 && ids.size(0) > 0, "calibration ids must be a non-empty [N, L] batch");
  const int64_t d = m.config.hidden_size;
  check(new_dim >= 1 && new_dim <= d, "SliceGPT width {} must be in [1, hidden size {}]", new_dim, d);
  const SliceGptSpec spec = slicegpt_spec(m.config, new_dim);
  const at::ScalarType dt = m.dtype;
  const int64_t micro = std::max<int64_t>(1, micro_batch), N = ids.size(0);

  fold_norms(m);
  m.config.slicegpt = spec;  // from here forward() divides norms by d; shapes follow as layers are sliced

  nlohmann::json stats = nlohmann::json::array();
  double kept = 0;
  auto record = [&](int layer, const char* at, int64_t width) {
    stats.push_back({{"layer", layer}, {"at", at}, {"width", width}, {"energy_kept", kept}});
  };

  // Embeddings: Q0 from their outputs, E -> E Q0[:, :k].
  std::vector<Tensor> hidden;  // the stream at the current boundary, per micro-batch [n, L, k]
  Pca pca;
  for (int64_t i = 0; i < N; i += micro) {
    hidden.push_back(m.embed(ids.narrow(0, i, std::min(micro, N - i)).to(m.device)));  // [n, L, d]
    pca.add(hidden.back());
  }
  int64_t k = spec.embedding_dim;
  Tensor Q = pca.basis(damp, k, kept);  // [d, d]: the basis of the stream at the current boundary
  record(-1, "embeddings", k);
  {
    const Tensor qk = Q.narrow(1, 0, k);
    m.weights.embed = rotate_in(m.weights.embed, qk);  // [V, k]
    for (auto& x : hidden) x = at::matmul(x, qk.to(dt));
  }

  const int L = m.config.num_layers();
  Progress bar("slicegpt", L, "layers");
  for (int i = 0; i < L; ++i) {
    auto& lw = m.weights.layers[i];
    const SlicedLayer& w = spec.layers[i];
    if (k != w.attn_in) throw Error(fmt::format("internal: slicegpt layer {} input width {} != {}", i, k, w.attn_in));
    if (lw.attn) {
      auto& a = *lw.attn;
      const Tensor in = Q.narrow(1, 0, k);  // [d, k]
      for (Tensor* t : {&a.q, &a.k, &a.v}) *t = rotate_in(*t, in);
      a.norm = at::ones({k}, a.norm.options());
      a.shortcut = in.t().to(dt).contiguous();  // [k, d]: back to the basis o_proj still writes in
      Pca mid;  // the residual entering the MLP norm (SliceGPT's mlp_ln_inputs), [n, L, d]
      for (const auto& x : hidden) {
        ForwardContext ctx;
        mid.add(m.run_layer(i, x, ctx, /*attn=*/true, /*mlp=*/false));
      }
      Q = mid.basis(damp, w.mlp_in, kept);
      record(i, "attention", w.mlp_in);
      const Tensor out = Q.narrow(1, 0, w.mlp_in);           // [d, k_mid]
      a.shortcut = in.t().mm(out).to(dt).contiguous();         // [k, k_mid]
      a.o = rotate_out(a.o, out);                               // [k_mid, H*D]
      a.o_bias = rotate_bias(a.o_bias, out);
      k = w.mlp_in;
    }
    if (lw.mlp) {
      auto& f = *lw.mlp;
      const Tensor in = Q.narrow(1, 0, k);  // [d, k]
      f.gate = rotate_in(f.gate, in);
      f.up = rotate_in(f.up, in);
      f.norm = at::ones({k}, f.norm.options());
      f.shortcut = in.t().to(dt).contiguous();  // [k, d]: back to the basis down_proj still writes in
      Pca outp;  // the layer's output, [n, L, d]
      for (auto& x : hidden) {
        ForwardContext ctx;
        x = m.run_layer(i, x, ctx);
        outp.add(x);
      }
      Q = outp.basis(damp, w.mlp_out, kept);
      record(i, "mlp", w.mlp_out);
      const Tensor out = Q.narrow(1, 0, w.mlp_out);    // [d, k_out]
      f.shortcut = in.t().mm(out).to(dt).contiguous();  // [k, k_out]
      f.down = rotate_out(f.down, out);                  // [k_out, F]
      f.down_bias = rotate_bias(f.down_bias, out);
      for (auto& x : hidden) x = at::matmul(x, out.to(dt));  // the next layer's input [n, L, k_out]
      k = w.mlp_out;
    } else if (lw.attn) {
      for (auto& x : hidden) {  // attention only: its output is already in the new basis
        ForwardContext ctx;
        x = m.run_layer(i, x, ctx);
      }
    }
    bar.advance();
  }
  bar.finish();

  m.weights.lm_head = rotate_in(m.weights.lm_head, Q.narrow(1, 0, k));  // [V, k]
  m.weights.final_norm = at::ones({k}, m.weights.final_norm.options());
  // Every tensor now has the shape the config implies; anything else is a bug here.
  for_each_tensor(m.config, [&](const TensorSpec& s) {
    const Tensor& t = tensor_slot(m.weights, s);
    if (!t.defined() || t.sizes().vec() != s.shape)
      throw Error(fmt::format("internal: slicegpt left {} with shape [{}], expected [{}]", s.name,
                              t.defined() ? fmt::format("{}", fmt::join(t.sizes(), ", ")) : "undefined",
                              fmt::join(s.shape, ", ")));
  });
  return stats;
}

}  // namespace lopper
