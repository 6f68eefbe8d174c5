// SliceGPT (Ashkboos et al. 2024; microsoft/TransformerCompression, rotate_and_slice_sequential):
// the residual stream is rotated into the principal components of the calibration signal at every
// sublayer boundary and its trailing components are deleted, so every matrix that reads or writes
// the stream gets narrower. A rotation changes basis between sublayers, which "shortcut" matrices
// apply to the residual (x @ Q); the saved format is "lopper_slicegpt" (docs/format.md).
//
//  1. Fold every RMSNorm weight into the linears that read it (q/k/v, gate/up, lm_head); norms become
//     weight-free and divide by the original width d (SliceGPT's RMSN).
//  2. H = sum over calibration tokens of x x^T (fp64, uncentered) + 0.01 * mean(diag H) * I;
//     Q = eigenvectors of H by descending eigenvalue.
//  3. Q0 from the embeddings; per layer: attention inputs rotated by the incoming Q, PCA of the residual
//     entering the MLP norm gives Q' (o_proj rows and the attention shortcut), PCA of the layer output
//     gives Q'' (down_proj rows and the MLP shortcut); finally lm_head rotated by the last Q.
// Widths: d' (embeddings, attention in/out, MLP in/out) except the last sublayer's output, which keeps
// d (the head is not sliced: the reference's ConstSlicingScheduler default). All rotations in fp64.
//
// Deliberate differences from the reference, so that d' = d is exactly computationally invariant
// for RMSNorm models: embedding rows are not mean-centered (the reference's fuse_modules does it for
// every model, which only preserves LayerNorm models), and norms keep the model's rms_norm_eps (the
// reference's RMSN uses 1e-5). Layers without attention or MLP (lopper models may be heterogeneous)
// are handled: a missing sublayer has no PCA and no shortcut; the basis passes through it.
#pragma once
#include <ATen/core/Tensor.h>

#include <cstdint>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

// Target residual widths of `c` sliced to `new_dim` (see above).
SliceGptSpec slicegpt_spec(const ModelConfig& c, int64_t new_dim);

// Decoder-layer parameters of `c` sliced to `new_dim` (shortcut matrices and norms included).
int64_t slicegpt_decoder_params(const ModelConfig& c, int64_t new_dim);

// d' for --ratio s: int((1 - s) * d) rounded down to a multiple of `align` (run_slicegpt.py's rule);
// InputError when that is 0 or d.
int64_t slicegpt_dim_for_ratio(const ModelConfig& c, double ratio, int64_t align);
// d' for --params R: the largest multiple of `align` below d whose decoder-layer parameters are at most
// (1 - R) x the dense model's; InputError when even `align` is too wide.
int64_t slicegpt_dim_for_params(const ModelConfig& c, double params, int64_t align);

// Rotates and slices `m` in place to residual width `new_dim` (1..hidden_size; hidden_size: rotation
// only) with PCA on calibration ids [N, L], `micro_batch` samples per forward pass. Returns per-PCA
// statistics: for each rotation, the fraction of the (undamped) signal energy the kept components hold.
nlohmann::json slicegpt_rotate(Model& m, const at::Tensor& ids, int64_t new_dim, double damp, int64_t micro_batch);

}  // namespace lopper
