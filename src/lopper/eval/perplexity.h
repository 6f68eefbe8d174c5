// Perplexity over fixed-length windows of a token stream (docs/data.md has the window protocol):
// each window is fed alone, its next-token NLLs are averaged, loss = mean over scored targets,
// ppl = exp(loss). Non-overlapping windows by default, the convention of GPTQ, SparseGPT, Wanda,
// SLEB and 2SSP.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct PerplexityOptions {
  int64_t seqlen = 0;        // 0: min(max_position_embeddings, 2048)
  int64_t stride = 0;        // 0: seqlen (non-overlapping)
  int64_t max_windows = 0;   // 0: all
  int64_t batch = 0;         // windows per forward pass; 0: automatic (see perplexity.cpp)
  bool allow_long_context = false;  // permit seqlen > max_position_embeddings
};

struct PerplexityResult {
  std::string dataset;
  double loss = 0, ppl = 0;
  int64_t tokens = 0;   // tokens in the whole tokenized text
  int64_t windows = 0, seqlen = 0, stride = 0, targets = 0;
  std::vector<double> window_losses;  // mean NLL of each window's scored targets
  double seconds = 0;
  nlohmann::json to_json() const;
};

// The sequence length used when the user gives none.
int64_t default_seqlen(const ModelConfig& c);

PerplexityResult perplexity(const Model& model, const std::vector<int32_t>& ids, PerplexityOptions opts,
                            const std::string& label);

// Sum of next-token NLLs of logits [B, T, V] against ids [B, T], over target positions
// first_target..T-1 of each row; returns per-row sums [B] in fp64. Used by perplexity and by
// calibration-loss scoring.
at::Tensor next_token_nll_sum(const at::Tensor& logits, const at::Tensor& ids, int64_t first_target);

}  // namespace lopper
