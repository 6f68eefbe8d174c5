// Plain implementations of the search methods for the tests: every candidate is scored by a full
// forward pass from the embedding (no cached states, no early stopping, one batch), written from
// the methods' rules, so the engine-based methods can be checked against them.
#pragma once
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <limits>
#include <vector>

#include "lopper/model/model.h"
#include "lopper/prune/search/sublayers.h"

namespace lopper::test {

// Final hidden states with `removed` skipped: [N, T, C].
inline at::Tensor plain_hidden(const Model& m, const at::Tensor& ids, const SublayerSet& removed) {
  at::Tensor h = m.embed(ids);
  ForwardContext ctx;
  for (int l = 0; l < m.config.num_layers(); ++l) {
    bool a = !removed.attn_removed(l), f = !removed.mlp_removed(l);
    if (a || f) h = m.run_layer(l, h, ctx, a, f);
  }
  return h;
}

// log-probabilities of next tokens at positions 0..T-2: [N, T-1, V] (fp64).
inline at::Tensor plain_logprobs(const Model& m, const at::Tensor& ids, const SublayerSet& removed) {
  auto logits = m.lm_head(m.final_norm(plain_hidden(m, ids, removed)));
  return at::log_softmax(logits.narrow(1, 0, ids.size(1) - 1).to(at::kDouble), -1);
}

// Mean next-token NLL.
inline double plain_nll(const Model& m, const at::Tensor& ids, const SublayerSet& removed) {
  c10::InferenceMode g;
  auto lp = plain_logprobs(m, ids, removed);
  auto tgt = ids.narrow(1, 1, ids.size(1) - 1).unsqueeze(-1);
  return -lp.gather(-1, tgt).mean().item<double>();
}

// Mean KL(P_dense || Q_removed) per predicted token.
inline double plain_kl(const Model& m, const at::Tensor& ids, const SublayerSet& removed) {
  c10::InferenceMode g;
  auto lq = plain_logprobs(m, ids, removed);
  auto lp = plain_logprobs(m, ids, SublayerSet(m.config.num_layers()));
  return (lp.exp() * (lp - lq)).sum().item<double>() / static_cast<double>(lp.size(0) * lp.size(1));
}

// One greedy step over candidate groups: strict minimum, the first candidate wins ties.
template <typename Score>
int plain_argmin(const std::vector<std::vector<int>>& groups, const SublayerSet& cur, Score score) {
  int best = -1;
  double best_v = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < groups.size(); ++i) {
    SublayerSet c = cur;
    for (int s : groups[i]) c.set(s);
    double v = score(c);
    if (v < best_v) best_v = v, best = static_cast<int>(i);
  }
  return best;
}

}  // namespace lopper::test
