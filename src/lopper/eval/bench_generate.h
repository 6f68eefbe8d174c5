// `lopper bench --generate`: forced-length greedy generation with the KV cache, the way Shortened
// LLaMA, SLEB and SPRINT time pruned models: per (batch, new tokens) setting, latency, time to
// first token, decode speed, throughput and the memory the run adds over the loaded model.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct GenerateBenchOptions {
  std::vector<int64_t> batches{1};
  int64_t prompt_len = 128;
  std::vector<int64_t> gen_lens{128};
  int warmup = 1;   // untimed runs per setting
  int repeats = 3;  // timed runs per setting; the report gives their median (and min)
  uint64_t seed = 0;
};

// Bytes of weights one decode step reads: every parameter except the input embedding table, of
// which a step reads one row per sequence (tied embeddings are read once, as the LM head).
int64_t decode_weight_bytes(const Model& model);

// Sustained copy bandwidth of the model's device in bytes/s (read + write of a 256 MiB buffer),
// the denominator of the decode roofline weight_bytes / bandwidth.
double measure_copy_bandwidth(const c10::Device& device);

// Runs every (batch, gen_len) setting; prints one line each to stdout. JSON: {"prompt_len",
// "weight_bytes", "bandwidth_bytes_per_s", "settings": [{batch, gen_len, latency_s, latency_min_s,
// ttft_s, decode_tokens_per_s, throughput_tokens_per_s, memory_growth_bytes, memory_peak_bytes,
// roofline_tokens_per_s}]}.
nlohmann::json bench_generate(const Model& model, const GenerateBenchOptions& opts);

}  // namespace lopper
