// Autoregressive generation: greedy or sampled (temperature, top-k, top-p), with or without the KV
// cache. Sampling uses lopper's own seeded RNG so the same seed gives the same text everywhere.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "lopper/model/model.h"

namespace lopper {

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  bool greedy = false;
  double temperature = 1.0;
  int64_t top_k = 0;     // 0: off
  double top_p = 1.0;    // 1: off
  uint64_t seed = 0;
  bool use_cache = true;
  bool stop_at_eos = true;  // stop after emitting one of the config's eos ids
  // Called with each new id as soon as it is picked (streaming); returning false stops generation
  // after that id (e.g. the client went away). It does not change which ids are generated.
  std::function<bool(int64_t id)> on_token;
};

// Returns the prompt followed by the generated ids.
std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& opts);

struct GenerationTimes {
  double first_token_s = 0;  // prompt pass and the first new token
  double total_s = 0;        // all n new tokens
};

// Greedy decoding of exactly n new tokens (no EOS stop) after prompts [B, P], with the KV cache:
// the forced-length generation that speed benchmarks time. Returns the new ids [B, n].
at::Tensor generate_greedy_forced(const Model& model, const at::Tensor& prompt, int64_t n,
                                  GenerationTimes* times = nullptr);

}  // namespace lopper
