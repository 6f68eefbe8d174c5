#include "lopper/model/ops.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <cmath>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>
#include <limits>

namespace lopper::ops {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, int64_t mean_dim) {
  // fp32 statistics for fp32/bf16/f16 like transformers; an fp64 model (tests' exact reference) stays fp64.
  auto xf = x.scalar_type() == at::kDouble ? x : x.to(at::kFloat);
  auto var = mean_dim > 0 ? xf.pow(2).sum(-1, /*keepdim=*/true) / static_cast<double>(mean_dim)
                          : xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(var + eps);
  return w * xf.to(x.scalar_type());
}

namespace {

// fp32 linears on CPU through oneDNN instead of the BLAS libtorch was built with. Measured on 2 cores
// (Zen 5, OpenBLAS 0.3.21 with the environment's Haswell kernels), [8192, 256] x [256, 768]:
// 66 GFLOP/s through at::linear, 175 through oneDNN; [8192, 768] x [768, 256]: 168 vs 294.
// LOPPER_CPU_GEMM=blas turns it off. Not for autograd (Taylor scores need gradients) or few rows.
bool use_onednn_linear(const at::Tensor& x, const at::Tensor& w) {
  static const bool off = [] {
    const char* e = std::getenv("LOPPER_CPU_GEMM");
    return e && std::string(e) == "blas";
  }();
  if (off || !x.is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat) return false;
  if (x.requires_grad() || w.requires_grad() || !at::hasMKLDNN()) return false;
  return x.numel() / x.size(-1) >= 64;  // rows; decoding one token is a matrix-vector product
}

// Decoding (fewer than 64 rows) on CPU in fp32: BLAS's GEMM packs the weight matrix for the few
// rows it multiplies (sgemm_incopy was 2/3 of OpenBLAS's decode time on testbed-15m), on one thread
// (the BLAS pool is one thread, see cpu_threads.cpp). Instead each OpenMP thread takes a slice of
// output features: matrix-vector products for up to 4 rows (no packing, each weight read once),
// a GEMM on its slice for more.
bool use_sliced_linear(const at::Tensor& x, const at::Tensor& w) {
  if (!x.is_cpu() || x.scalar_type() != at::kFloat || w.scalar_type() != at::kFloat) return false;
  if (x.requires_grad() || w.requires_grad()) return false;
  return x.numel() / x.size(-1) < 64 && w.numel() >= (1 << 16) && w.is_contiguous();
}

at::Tensor linear_sliced(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const int64_t in = x.size(-1), out = w.size(0);
  auto rows = x.reshape({-1, in}).contiguous();  // [N, in]
  const int64_t N = rows.size(0);
  auto y = at::empty({N, out}, x.options());
  const bool inference = c10::InferenceMode::is_enabled();
  // Slices of at least 64 KB of weights: smaller ones cost more in scheduling than they save.
  const int64_t grain = std::max<int64_t>(16, (int64_t{1} << 14) / in);
  at::parallel_for(0, out, grain, [&](int64_t begin, int64_t end) {
    c10::InferenceMode mode(inference);
    auto ws = w.narrow(0, begin, end - begin);  // [n, in]
    if (N <= 4) {
      for (int64_t r = 0; r < N; ++r) {
        auto ys = y[r].narrow(0, begin, end - begin);
        at::mv_out(ys, ws, rows[r]);
      }
    } else {
      y.narrow(1, begin, end - begin).copy_(at::mm(rows, ws.t()));  // [N, n]
    }
  });
  if (b.defined()) y.add_(b);
  auto shape = x.sizes().vec();
  shape.back() = out;
  return y.view(shape);
}

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  if (use_sliced_linear(x, w)) return linear_sliced(x, w, b);
  if (use_onednn_linear(x, w)) {
    auto rows = x.reshape({-1, x.size(-1)}).contiguous();                     // [N, in]
    auto y = at::mkldnn_linear(rows.to_mkldnn(), w.contiguous(), b).to_dense();  // [N, out]
    auto shape = x.sizes().vec();
    shape.back() = w.size(0);
    return y.view(shape);
  }
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

void rope_tables(const ModelConfig& c, const at::Tensor& positions, at::ScalarType dtype, at::Tensor& cos,
                 at::Tensor& sin) {
  auto inv_freq = rope_inv_freq(c, positions.device());                 // [D/2]
  auto freqs = positions.to(at::kFloat).unsqueeze(-1) * inv_freq;        // [B, T, D/2]
  auto emb = at::cat({freqs, freqs}, -1).unsqueeze(1);                   // [B, 1, T, D]
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

double lowest_value(at::ScalarType t) {
  return t == at::kFloat ? std::numeric_limits<float>::lowest()
         : t == at::kHalf ? -65504.0
                            : -3.3895313892515355e38;  // bf16 lowest
}

// Additive mask [T, S]: 0 where query t (at position S-T+t) may see key s, the dtype's lowest value
// elsewhere (as transformers does, so that softmax never sees -inf - -inf).
at::Tensor causal_mask(int64_t t, int64_t s, std::optional<int64_t> window, const at::TensorOptions& opts) {
  auto lopt = opts.dtype(at::kLong);
  auto qpos = at::arange(s - t, s, lopt).unsqueeze(1);  // [T, 1]
  auto kpos = at::arange(0, s, lopt).unsqueeze(0);      // [1, S]
  auto blocked = kpos > qpos;
  if (window) blocked = blocked.logical_or(qpos - kpos >= *window);
  return at::zeros({t, s}, opts).masked_fill(blocked, lowest_value(c10::typeMetaToScalarType(opts.dtype())));
}

// The causal (and window) mask with each row's left padding blocked too: [B, 1, T, S].
at::Tensor padded_mask(int64_t t, int64_t s, std::optional<int64_t> window, const std::vector<int64_t>& row_start,
                       const at::TensorOptions& opts) {
  auto base = causal_mask(t, s, window, opts);  // [T, S]
  auto kpos = at::arange(0, s, opts.dtype(at::kLong)).unsqueeze(0);                                   // [1, S]
  auto starts = at::tensor(row_start, at::kLong).to(opts.device()).unsqueeze(1);                     // [B, 1]
  auto pad = (kpos < starts).unsqueeze(1).unsqueeze(1);                                              // [B, 1, 1, S]
  return base.unsqueeze(0).unsqueeze(0).masked_fill(pad, lowest_value(c10::typeMetaToScalarType(opts.dtype())));               // [B, 1, T, S]
}

at::ScalarType softmax_dtype(const at::Tensor& q) { return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat; }

// Fused SDPA on CUDA, and on CPU for bf16/f16. fp32 on CPU keeps the eager path, the exact
// reference: with libtorch 2.11's CPU SDPA one per-window loss (stories260k, C4) moved 5.4e-5 from
// the golden, past the 5e-5 the goldens are held to; the eager path stays within it.
[[maybe_unused]] bool use_fused_attention(const at::Tensor& q) {
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

// CPU, causal, no window: one plain GEMM per (sequence, KV head, block of queries), against only the
// keys the block can see (the work drops to about half of the full square). The (sequence, KV head)
// problems are independent and run in parallel, each on one thread: libtorch's CPU bmm instead
// parallelizes over the batch with a threaded BLAS inside each task, measured 4x slower on 2 cores.
// Per block the scale is applied inside the GEMM (as transformers scales the product), only the
// diagonal n x n part of the scores needs the causal mask, and softmax runs in place: the
// elementwise passes over the score matrix, not the GEMMs, were half of the attention time.
at::Tensor attention_cpu_causal(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                                const std::vector<int64_t>* row_start) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t KV = k.size(1), S = k.size(2), G = H / KV;
  // Smaller blocks skip more masked work but make more, smaller GEMMs. 128 measured best on
  // testbed-15m at 1024 tokens (fp32 and bf16; 64 and 256 within noise to 10% slower).
  const int64_t block = std::min<int64_t>(128, T);
  auto diag = causal_mask(block, block, std::nullopt, q.options());  // [n, n]: 0 on and below the diagonal
  // Left padding: the first row_start[b] keys of row b are skipped, and so are the queries among
  // them (their output is 0).
  auto out = row_start ? at::zeros({B, H, T, D}, q.options()) : at::empty({B, H, T, D}, q.options());
  // Autograd (Taylor scores) rules out the out= and in-place forms, and in-place writes into views of
  // one output from several threads.
  const bool grad = q.requires_grad() || k.requires_grad() || v.requires_grad();
  auto solve = [&](int64_t b, int64_t g) {
    const int64_t start = row_start ? (*row_start)[static_cast<size_t>(b)] : 0;  // first real key
    for (int64_t t_block = 0; t_block < T; t_block += block) {
      const int64_t visible = S - T + std::min(T, t_block + block);
      const int64_t t0 = std::max(t_block, start - (S - T));  // first real query of the block
      const int64_t n = t_block + std::min(block, T - t_block) - t0;
      if (n <= 0) continue;
      const int64_t keys = visible - start;
      auto qg = q[b].narrow(0, g * G, G).narrow(1, t0, n).reshape({G * n, D});                  // [G*n, D]
      auto kg = k[b][g].narrow(0, start, keys), vg = v[b][g].narrow(0, start, keys);  // [keys, D]
      auto diag_n = diag.narrow(0, 0, n).narrow(1, 0, n);                            // [n, n]
      at::Tensor probs;                                                               // [G*n, keys]
      if (grad) {
        auto mask = at::cat({at::zeros({n, keys - n}, q.options()), diag_n}, 1);  // [n, keys]
        auto scores = (at::mm(qg, kg.t()) * scale).view({G, n, keys}) + mask;
        probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type()).view({G * n, keys});
      } else {
        auto scores = at::empty({G * n, keys}, q.options());
        at::addmm_out(scores, scores, qg, kg.t(), /*beta=*/0, /*alpha=*/scale);
        scores.view({G, n, keys}).narrow(2, keys - n, n).add_(diag_n);
        // In place; for bf16/f16 libtorch's kernel computes in fp32 and rounds once, as
        // softmax(scores.float()).to(bf16) does in transformers.
        probs = at::_softmax_out(scores, scores, -1, false);
      }
      out[b].narrow(0, g * G, G).narrow(1, t0, n).copy_(at::mm(probs, vg).view({G, n, D}));
    }
  };
  if (grad) {
    for (int64_t i = 0; i < B * KV; ++i) solve(i / KV, i % KV);
    return out;
  }
  const bool inference = c10::InferenceMode::is_enabled();
  at::parallel_for(0, B * KV, 1, [&](int64_t begin, int64_t end) {
    c10::InferenceMode mode(inference);  // thread-local: the output may be an inference tensor
    for (int64_t i = begin; i < end; ++i) solve(i / KV, i % KV);
  });
  return out;
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::optional<int64_t> window, const std::vector<int64_t>* row_start) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t KV = k.size(1), S = k.size(2), G = H / KV;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  if (window && *window >= S) window.reset();  // the window covers everything: plain causal
#if TORCH_VERSION_MAJOR >= 2
  if (use_fused_attention(q)) {
    // Fused kernels (flash / memory-efficient on CUDA). K/V heads are expanded for GQA.
    auto ke = G == 1 ? k : k.repeat_interleave(G, 1);  // [B, H, S, D]
    auto ve = G == 1 ? v : v.repeat_interleave(G, 1);
    if (!window && T == S && !row_start)
      return at::scaled_dot_product_attention(q, ke, ve, {}, 0.0, /*is_causal=*/true);
    auto mask = row_start ? padded_mask(T, S, window, *row_start, q.options()) : causal_mask(T, S, window, q.options());
    return at::scaled_dot_product_attention(q, ke, ve, mask, 0.0, false);
  }
#endif
  // Eager path (libtorch 1.x, and the reference).
  if (!q.is_cuda() && !window) return attention_cpu_causal(q, k, v, scale, row_start);
  // Long causal prefill with a sliding window: process queries in blocks, each against only the keys
  // it can see. The masked scores skipped this way cost nothing (their probabilities are exactly 0
  // in the full computation).
  constexpr int64_t kQueryBlock = 256;
  if (T > 2 * kQueryBlock) {
    std::vector<at::Tensor> outs;
    for (int64_t t0 = 0; t0 < T; t0 += kQueryBlock) {
      int64_t n = std::min(kQueryBlock, T - t0), visible = S - T + t0 + n;
      outs.push_back(attention(q.narrow(2, t0, n), k.narrow(2, 0, visible), v.narrow(2, 0, visible), window, row_start));
    }
    return at::cat(outs, 2);
  }
  // Batched matmuls (CUDA without fused kernels; CPU with a sliding window); queries of one KV group
  // share them.
  auto mask = row_start ? padded_mask(T, S, window, *row_start, q.options()).unsqueeze(1)  // [B, 1, 1, T, S]
                        : causal_mask(T, S, window, q.options());                          // [T, S]
  auto qg = q.reshape({B, KV, G * T, D});                                   // [B, KV, G*T, D]
  auto scores = at::matmul(qg, k.transpose(2, 3)) * scale;                   // [B, KV, G*T, S]
  scores = scores.view({B, KV, G, T, S}) + mask;
  auto probs = at::softmax(scores, -1, softmax_dtype(q)).to(q.scalar_type());  // [B, KV, G, T, S]
  return at::matmul(probs.view({B, KV, G * T, S}), v).view({B, H, T, D});
}

}  // namespace lopper::ops
