// End-to-end latency of models in one of the two settings speed-aware pruning methods time (SPRINT's
// latency_utils.py): "generation" (a random prompt, then exactly gen_len greedy tokens with the KV
// cache) or "prompt" (one forward pass over a prompt, no cache). Several models are timed in
// interleaved rounds (model A, B, C, A, B, C, ...) so that drift of a shared machine hits them alike;
// each model's latency is the median of its rounds.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct LatencySettings {
  std::string mode = "generation";  // generation | prompt
  // 0: the reference's defaults - generation: a 1024-token prompt and 512 new tokens; prompt: one
  // 2048-token forward - shrunk (2:1 for generation) to fit the model's context when they do not.
  int64_t prompt_len = 0;           // generation: prompt tokens; prompt: tokens of the forward pass
  int64_t gen_len = 0;              // generation: forced new tokens
  int64_t batch = 1;
  int warmup = 1;                   // untimed runs per model
  int repeats = 3;                  // timed rounds
  uint64_t seed = 0;                // random prompt ids

  // The settings with the defaults filled in for a model with this context.
  LatencySettings resolved(int64_t context) const;
  // The fields that change what is measured (repeats and warm-up do not): keys of latency tables.
  nlohmann::json key() const;
  nlohmann::json to_json() const;
};

// Checks the settings against a model's context; throws InputError naming the option.
void validate_latency_settings(const LatencySettings& s, int64_t context);

struct LatencyResult {
  std::vector<double> median_s;              // per model
  std::vector<std::vector<double>> runs_s;   // per model, every timed round
};

// Times every model (all must share the vocabulary) with the same random prompt.
LatencyResult measure_latency(const std::vector<const Model*>& models, const LatencySettings& s);

}  // namespace lopper
