// The decoder forward pass: embedding, per-layer attention / MLP sublayers (each optional, with its
// own head counts and width), final norm and LM head, with tap points for calibration. A SliceGPT-rotated
// model's sublayers carry the residual across with a shortcut matrix and normalize by the original width.
#include <ATen/ATen.h>

#include "lopper/model/cpu_threads.h"
#include "lopper/model/model.h"
#include "lopper/model/ops.h"
#include "lopper/util/error.h"

namespace lopper {

const char* tap_name(Tap t) {
  switch (t) {
    case Tap::LayerIn: return "layer_in";
    case Tap::AttnIn: return "attn_in";
    case Tap::AttnContext: return "attn_context";
    case Tap::AttnOut: return "attn_out";
    case Tap::MlpIn: return "mlp_in";
    case Tap::MlpAct: return "mlp_act";
    case Tap::MlpOut: return "mlp_out";
    case Tap::LayerOut: return "layer_out";
  }
  return "?";
}

namespace {

inline void tap(ForwardContext& ctx, int layer, Tap t, at::Tensor& x) {
  if (ctx.taps && ctx.taps->wants(layer, t)) ctx.taps->on(layer, t, x);
}

// The residual carried across a sublayer: h, or h @ Q for a SliceGPT shortcut Q [C_in, C_out].
inline at::Tensor shortcut(const at::Tensor& h, const at::Tensor& q) { return q.defined() ? at::matmul(h, q) : h; }

// SliceGPT's norm divisor (the original hidden size); 0 (plain mean) for ordinary models.
inline int64_t norm_dim(const ModelConfig& c) { return c.slicegpt ? c.slicegpt->norm_dim : 0; }

// A Linear projection of layer `layer`, plus the context's adapter addition when it has one.
inline at::Tensor project(ForwardContext& ctx, int layer, TensorRole role, const at::Tensor& x, const at::Tensor& w,
                          const at::Tensor& b) {
  at::Tensor y = ops::linear(x, w, b);
  if (!ctx.adapter) return y;
  at::Tensor d = ctx.adapter->delta(layer, role, x);
  return d.defined() ? y + d : y;
}

}  // namespace

at::Tensor Model::embed(const at::Tensor& ids) const {
  check(ids.dim() == 2, "input ids must be [batch, tokens], got {} dims", ids.dim());
  auto mx = ids.max().item<int64_t>(), mn = ids.min().item<int64_t>();
  check(mn >= 0 && mx < config.vocab_size, "token id {} is outside the vocabulary (size {})",
        mn < 0 ? mn : mx, config.vocab_size);
  return at::embedding(weights.embed, ids.to(device, at::kLong));  // [B, T, C]
}

at::Tensor Model::run_layer(int i, const at::Tensor& h_in, ForwardContext& ctx, bool attn, bool mlp) const {
  const LayerSpec& spec = config.layers.at(i);
  if (device.is_cpu()) follow_load();  // fewer threads while other processes need the cores
  at::Tensor h = h_in;  // [B, T, C]
  std::shared_ptr<const LayerWeights> held;  // a streamed or placed layer's device copy, for this call
  if (stream) {
    held = stream->get(*this, i);
    stream->prefetch(*this, i + 1);  // copied while this layer runs (CUDA)
    const c10::Device dev = stream->device_of(*this, i);
    if (h.device() != dev) h = h.to(dev);  // the hidden state moves to the layer's device
  }
  const LayerWeights& w = held ? *held : weights.layers.at(i);
  tap(ctx, i, Tap::LayerIn, h);
  const int64_t B = h.size(0), T = h.size(1), D = config.head_dim;
  if (w.attn && attn) {
    const AttentionWeights& a = *w.attn;
    const int64_t H = spec.num_heads, KV = spec.num_kv_heads;
    at::Tensor x = ops::rms_norm(h, a.norm, config.rms_norm_eps, norm_dim(config));  // [B, T, C]
    tap(ctx, i, Tap::AttnIn, x);
    auto q = project(ctx, i, TensorRole::Q, x, a.q, a.q_bias).view({B, T, H, D});   // [B, T, H, D]
    auto k = project(ctx, i, TensorRole::K, x, a.k, a.k_bias).view({B, T, KV, D});   // [B, T, KV, D]
    auto v = project(ctx, i, TensorRole::V, x, a.v, a.v_bias).view({B, T, KV, D});
    if (config.qk_norm) {
      q = ops::rms_norm(q, a.q_norm, config.rms_norm_eps);
      k = ops::rms_norm(k, a.k_norm, config.rms_norm_eps);
    }
    q = q.transpose(1, 2);  // [B, H, T, D]
    k = k.transpose(1, 2);  // [B, KV, T, D]
    v = v.transpose(1, 2);
    const int64_t offset = ctx.cache ? ctx.cache->length() : ctx.pos_offset;
    const bool per_row = !ctx.row_start.empty();
    if (ctx.rope.offset != offset || ctx.rope.length != T || ctx.rope.per_row != per_row || !ctx.rope.cos.defined() ||
        ctx.rope.cos.device() != h.device() || ctx.rope.cos.scalar_type() != h.scalar_type()) {
      if (per_row) {
        check(static_cast<int64_t>(ctx.row_start.size()) == B, "row_start has {} entries for a batch of {}",
              ctx.row_start.size(), B);
        auto starts = at::tensor(ctx.row_start, at::kLong).unsqueeze(1);                  // [B, 1]
        auto pos = at::arange(offset, offset + T, at::kLong).unsqueeze(0) - starts;      // [B, T]
        ops::rope_tables(config, pos.to(h.device()), h.scalar_type(), ctx.rope.cos, ctx.rope.sin);
      } else {
        ops::rope_tables(config, offset, T, h.device(), h.scalar_type(), ctx.rope.cos, ctx.rope.sin);
      }
      ctx.rope.offset = offset;
      ctx.rope.length = T;
      ctx.rope.per_row = per_row;
    }
    q = ops::apply_rope(q, ctx.rope.cos, ctx.rope.sin);
    k = ops::apply_rope(k, ctx.rope.cos, ctx.rope.sin);
    if (ctx.cache) std::tie(k, v) = ctx.cache->append(i, k, v);  // [B, KV, S, D]
    at::Tensor c = ops::attention(q, k, v, spec.sliding_window,    // [B, H, T, D]
                                  ctx.row_start.empty() ? nullptr : &ctx.row_start)
                       .transpose(1, 2)
                       .reshape({B, T, H * D});                    // [B, T, H*D]
    tap(ctx, i, Tap::AttnContext, c);
    at::Tensor out = project(ctx, i, TensorRole::O, c, a.o, a.o_bias);  // [B, T, C]
    tap(ctx, i, Tap::AttnOut, out);
    h = shortcut(h, a.shortcut) + out;
  } else if (w.attn) {
    h = shortcut(h, w.attn->shortcut);  // skipped: a rotated stream still needs its change of basis
  }
  if (w.mlp && mlp) {
    const MlpWeights& m = *w.mlp;
    at::Tensor x = ops::rms_norm(h, m.norm, config.rms_norm_eps, norm_dim(config));  // [B, T, C]
    tap(ctx, i, Tap::MlpIn, x);
    at::Tensor gate = project(ctx, i, TensorRole::Gate, x, m.gate, m.gate_bias);  // [B, T, F]
    at::Tensor act = at::silu(gate) * project(ctx, i, TensorRole::Up, x, m.up, m.up_bias);  // [B, T, F]
    tap(ctx, i, Tap::MlpAct, act);
    at::Tensor out = project(ctx, i, TensorRole::Down, act, m.down, m.down_bias);  // [B, T, C]
    tap(ctx, i, Tap::MlpOut, out);
    h = shortcut(h, m.shortcut) + out;
  } else if (w.mlp) {
    h = shortcut(h, w.mlp->shortcut);
  }
  tap(ctx, i, Tap::LayerOut, h);
  return h;
}

at::Tensor Model::run_layers(at::Tensor h, int from, int to, ForwardContext& ctx) const {
  check(from >= 0 && from <= to && to <= config.num_layers(), "layer range [{}, {}) is outside 0..{}",
        from, to, config.num_layers());
  for (int i = from; i < to; ++i) h = run_layer(i, h, ctx);
  return h;
}

at::Tensor Model::final_norm(const at::Tensor& h) const {
  // After layers on other devices (--devices) the hidden state comes back to the first one.
  const at::Tensor& x = h.device() == weights.final_norm.device() ? h : h.to(weights.final_norm.device());
  return ops::rms_norm(x, weights.final_norm, config.rms_norm_eps, norm_dim(config));
}

at::Tensor Model::lm_head(const at::Tensor& normed) const {
  const at::Tensor& x = normed.device() == weights.lm_head.device() ? normed : normed.to(weights.lm_head.device());
  return ops::linear(x, weights.lm_head, {});  // [B, T, V]
}

at::Tensor Model::forward(const at::Tensor& ids, ForwardContext& ctx) const {
  at::Tensor h = run_layers(embed(ids), 0, config.num_layers(), ctx);
  if (ctx.cache) ctx.cache->commit(ids.size(1));
  return lm_head(final_norm(h));
}

at::Tensor Model::forward_last(const at::Tensor& ids, ForwardContext& ctx) const {
  at::Tensor h = run_layers(embed(ids), 0, config.num_layers(), ctx);  // [B, T, C]
  if (ctx.cache) ctx.cache->commit(ids.size(1));
  return lm_head(final_norm(h.select(1, h.size(1) - 1)));               // [B, V]
}

at::Tensor Model::forward(const at::Tensor& ids) const {
  ForwardContext ctx;
  return forward(ids, ctx);
}

}  // namespace lopper
