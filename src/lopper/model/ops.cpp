#include "lopper/model/ops.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>
#include <limits>

namespace lopper::ops {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps) {
  // fp32 statistics for fp32/bf16/f16 like transformers; an fp64 model (tests' exact reference) stays fp64.
  auto xf = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(var + eps);
  return w * xf.to(x.scalar_type());
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

at::Tensor rope_inv_freq(const ModelConfig& c, const c10::Device& device) {
  const int64_t D = c.head_dim;
  auto fopt = at::TensorOptions().dtype(at::kFloat).device(device);
  // 1 / theta^(2i/D), computed with the same fp32 ops as transformers.
  auto exponent = at::arange(0, D, 2, at::TensorOptions().dtype(at::kLong).device(device)).to(at::kFloat) /
                  static_cast<double>(D);
  auto inv_freq = 1.0 / at::pow(at::scalar_tensor(c.rope_theta, fopt), exponent);
  const RopeScaling& r = c.rope_scaling;
  if (r.type == "linear") {
    inv_freq = inv_freq / r.factor;
  } else if (r.type == "llama3") {
    // Llama 3.1: long wavelengths are divided by `factor`, short ones kept, the band between
    // interpolated smoothly.
    double old_ctx = static_cast<double>(r.original_max_position_embeddings);
    double low_wavelen = old_ctx / r.low_freq_factor, high_wavelen = old_ctx / r.high_freq_factor;
    auto wavelen = 2 * M_PI / inv_freq;
    auto scaled = at::where(wavelen > low_wavelen, inv_freq / r.factor, inv_freq);
    auto smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
    auto smoothed = (1 - smooth) * scaled / r.factor + smooth * scaled;
    auto medium = at::logical_not(wavelen < high_wavelen).logical_and(at::logical_not(wavelen > low_wavelen));
    inv_freq = at::where(medium, smoothed, scaled);
  }
  return inv_freq;
}

void rope_tables(const ModelConfig& c, int64_t offset, int64_t t, const c10::Device& device,
                 at::ScalarType dtype, at::Tensor& cos, at::Tensor& sin) {
  auto inv_freq = rope_inv_freq(c, device);                                     // [D/2]
  auto pos = at::arange(offset, offset + t, at::TensorOptions().dtype(at::kLong).device(device)).to(at::kFloat);
  auto freqs = at::outer(pos, inv_freq);                                        // [T, D/2]
  auto emb = at::cat({freqs, freqs}, -1);                                       // [T, D]
  cos = emb.cos().to(dtype);
  sin = emb.sin().to(dtype);
}

at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = at::cat({-x2, x1}, -1);
  return x * cos + rotated * sin;
}

namespace {

// Additive mask [T, S]: 0 where query t (at position S-T+t) may see key s, the dtype's lowest value
// elsewhere (as transformers does, so that softmax never sees -inf - -inf).
at::Tensor causal_mask(int64_t t, int64_t s, std::optional<int64_t> window, const at::TensorOptions& opts) {
  auto lopt = opts.dtype(at::kLong);
  auto qpos = at::arange(s - t, s, lopt).unsqueeze(1);  // [T, 1]
  auto kpos = at::arange(0, s, lopt).unsqueeze(0);      // [1, S]
  auto blocked = kpos > qpos;
  if (window) blocked = blocked.logical_or(qpos - kpos >= *window);
  double lowest = opts.dtype() == at::kFloat  ? std::numeric_limits<float>::lowest()
                  : opts.dtype() == at::kHalf ? -65504.0
                                              : -3.3895313892515355e38;  // bf16 lowest
  return at::zeros({t, s}, opts).masked_fill(blocked, lowest);
}

// Fused SDPA on CUDA, and on CPU for bf16/f16. fp32 on CPU keeps the eager path: it is the exact
// reference (libtorch 2.x's CPU flash kernel approximates exp, which moved perplexities by more than
// the 1e-5 the goldens are held to) and, with the blocked GEMMs below, no slower.
at::ScalarType softmax_dtype(const at::Tensor& q) { return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

bool use_fused_attention(const at::Tensor& q) {
#if TORCH_VERSION_MAJOR >= 2
  // LOPPER_ATTENTION=eager|fused overrides the choice (comparisons, debugging).
  static const std::string forced = [] {
    const char* e = std::getenv("LOPPER_ATTENTION");
    return std::string(e ? e : "");
  }();
  if (forced == "eager") return false;
  if (forced == "fused") return true;
  return q.is_cuda() || q.scalar_type() != at::kFloat;
#else
  return false;
#endif
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::optional<int64_t> window) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t KV = k.size(1), S = k.size(2), G = H / KV;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  if (window && *window >= S) window.reset();  // the window covers everything: plain causal
#if TORCH_VERSION_MAJOR >= 2
  if (use_fused_attention(q)) {
    // Fused kernels (flash / memory-efficient on CUDA). K/V heads are expanded for GQA.
    auto ke = G == 1 ? k : k.repeat_interleave(G, 1);  // [B, H, S, D]
    auto ve = G == 1 ? v : v.repeat_interleave(G, 1);
    if (!window && T == S)
      return at::scaled_dot_product_attention(q, ke, ve, {}, 0.0, /*is_causal=*/true);
    auto mask = causal_mask(T, S, window, q.options());
    return at::scaled_dot_product_attention(q, ke, ve, mask, 0.0, false);
  }
#endif
  // Eager path (libtorch 1.x, and the reference). Long causal prefill: process queries in blocks,
  // each against only the keys it can see. The masked scores skipped this way cost nothing (their
  // probabilities are exactly 0 in the full computation), and the work drops to about half.
  constexpr int64_t kQueryBlock = 256;
  if (T > 2 * kQueryBlock) {
    std::vector<at::Tensor> outs;
    for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
      int64_t n = std::min(kQueryBlock, T - t0), visible = S - T + t0 + n;
      outs.push_back(attention(q.narrow(2, t0, n), k.narrow(2, 0, visible), v.narrow(2, 0, visible), window));
    }
    return at::cat(outs, 2);
  }
  auto mask = causal_mask(T, S, window, q.options());  // [T, S]
  if (q.is_cuda()) {
    // One batched matmul per step; queries of one KV group share it.
    auto qg = q.reshape({B, KV, G * T, D});                                 // [B, KV, G*T, D]
    auto scores = at::matmul(qg, k.transpose(2, 3)) * scale;                 // [B, KV, G*T, S]
    scores = scores.view({B, KV, G, T, S}) + mask;
    auto probs = at::softmax(scores, -1, softmax_dtype(q)).to(q.scalar_type());   // [B, KV, G, T, S]
    return at::matmul(probs.view({B, KV, G * T, S}), v).view({B, H, T, D});
  }
  // CPU: one plain GEMM per (sequence, KV head). libtorch's CPU bmm parallelizes over the batch and
  // calls a threaded BLAS inside each task; measured 4x slower than these calls on 2 cores. It also
  // keeps the score matrix at G*T*S, cache-friendly for any batch size.
  auto out = at::empty({B, H, T, D}, q.options());
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t g = 0; g < KV; ++g) {
      auto qg = q[b].narrow(0, g * G, G).reshape({G * T, D});              // [G*T, D]
      auto scores = at::mm(qg, k[b][g].t()) * scale;                        // [G*T, S]
      scores = scores.view({G, T, S}) + mask;
      auto probs = at::softmax(scores, -1, softmax_dtype(q)).to(q.scalar_type()); // [G, T, S]
      out[b].narrow(0, g * G, G).copy_(at::mm(probs.view({G * T, S}), v[b][g]).view({G, T, D}));
    }
  }
  return out;
}

}  // namespace lopper::ops
