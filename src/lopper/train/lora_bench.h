// `lopper bench --lora-train`: LoRA training throughput (forward, backward, AdamW update) of a model,
// real or random weights, on windows of real text or random ids. The same step as `lopper finetune`.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"
#include "lopper/train/lora.h"

namespace lopper {

struct LoraBenchOptions {
  int64_t micro_batch = 4;
  int64_t seqlen = 256;
  int steps = 5;   // timed optimizer steps (one micro-batch each), after `warmup` untimed ones
  int warmup = 2;
  bool grad_checkpointing = false;
  LoraConfig lora;
};

// `tokens`: text to cut into [micro_batch, seqlen] windows (cycled); empty: random ids. Prints one
// line; JSON {"tokens_per_s", "step_seconds", "peak_memory_bytes", "trainable_params", ...}.
nlohmann::json bench_lora_training(Model& model, const std::vector<int64_t>& tokens, const LoraBenchOptions& opts);

}  // namespace lopper
