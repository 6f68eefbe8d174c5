// Log-likelihood of continuations given contexts, the scoring core of zero-shot evaluation, with
// lm-eval's rules: input = (context + continuation)[-(max_length+1):][:-1], ll = sum of the
// log-softmax at the continuation tokens, greedy = every continuation token is the argmax.
//
// Speed: requests are grouped by document. The requests of one document usually share a long
// token prefix (the context); it runs once and its keys/values are reused by every request of the
// document, so a multiple-choice document costs about one context pass plus its short
// continuations. Documents are sorted by suffix and prefix length and batched under token and
// KV-memory budgets; prefixes are left-padded (ForwardContext::row_start masks the padding and
// keeps positions) and suffixes right-padded (causal attention keeps padding invisible to real
// tokens). Only the positions that score a continuation token go through the final norm and the
// LM head.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lopper/model/model.h"
#include "lopper/tasks/metrics.h"
#include "lopper/tasks/request_tokens.h"

namespace lopper {

struct LoglikelihoodOptions {
  int64_t max_length = 0;    // 0: the model's max_position_embeddings (lm-eval's max_length)
  int64_t batch = 0;         // most sequences per forward pass; 0: automatic
  int64_t token_budget = 0;  // most (padded) tokens per forward pass; 0: automatic (CPU 8192, CUDA 32768)
  bool prefix_reuse = true;  // false: one full pass per request (the reference the fast path is tested against)
};

// What the model computed, to show what prefix reuse and batching save.
struct LoglikelihoodStats {
  int64_t request_tokens = 0;  // sum over requests of their input length (one full pass each)
  int64_t forward_tokens = 0;  // tokens through the model, padding and shared prefixes counted as run
  int64_t passes = 0;          // forward passes (a prefix pass and its suffix pass count as two)
};

// docs[d][r]: request r of document d. Returns the scores in the same layout. `label` names the
// progress line (stderr, with ETA).
std::vector<std::vector<RequestScore>> score_requests(const Model& model,
                                                      const std::vector<std::vector<RequestTokens>>& docs,
                                                      const LoglikelihoodOptions& opts, const std::string& label,
                                                      LoglikelihoodStats* stats = nullptr);

}  // namespace lopper
