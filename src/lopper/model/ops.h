// Building blocks of the decoder forward pass, written to follow transformers' Llama/Qwen modeling
// code operation by operation so that fp32 results agree to rounding.
#pragma once
#include <ATen/core/Tensor.h>

#include <optional>
#include <vector>

#include "lopper/model/config.h"

namespace lopper::ops {

// RMSNorm computed in fp32 and cast back, as transformers does: w * (x / sqrt(mean(x^2) + eps)).
// mean_dim > 0: the mean square is sum(x^2) / mean_dim instead (SliceGPT's RMSN: a sliced stream is
// normalized as if it still had the original width mean_dim).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& w, double eps, int64_t mean_dim = 0);  // [..., C]

// x @ w^T (+ b); b may be undefined.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

// RoPE inverse frequencies [D/2] (fp32), with llama3 / linear scaling applied.
at::Tensor rope_inv_freq(const ModelConfig& c, const c10::Device& device);
// cos/sin tables [T, D] for positions offset..offset+T-1, in `dtype`.
void rope_tables(const ModelConfig& c, int64_t offset, int64_t t, const c10::Device& device,
                 at::ScalarType dtype, at::Tensor& cos, at::Tensor& sin);
// The same for per-row positions [B, T] (int64): cos/sin [B, 1, T, D], broadcasting over heads.
void rope_tables(const ModelConfig& c, const at::Tensor& positions, at::ScalarType dtype, at::Tensor& cos,
                 at::Tensor& sin);
// Rotate-half RoPE on x [B, H, T, D] with cos/sin [T, D].
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Causal grouped-query attention. q [B, H, T, D], k/v [B, KV, S, D] where the T queries sit at
// positions S-T..S-1. `window`, when set, limits each query to the last `window` positions
// (itself included). `row_start` (optional, one entry per batch row) marks the first `row_start[b]`
// keys of row b as left padding: no query attends to them, and the output of a padding query is 0
// (CPU) or finite garbage (masked kernels). Returns [B, H, T, D].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::optional<int64_t> window, const std::vector<int64_t>* row_start = nullptr);

}  // namespace lopper::ops
