// `lopper bench`: prefill throughput of a model (real or random weights) at given batch sizes, with
// the achieved matmul TFLOP/s and peak memory. The same numbers PyTorch + transformers reports in
// ../shared/bench/hf_baseline.py, so the two can be run side by side on one GPU.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct BenchOptions {
  std::vector<int64_t> batches{1};
  int64_t seqlen = 512;
  int iters = 3;             // timed forward passes per batch size, after one untimed warm-up
  double peak_tflops = 0;    // the device's dense peak, for MFU; 0: no MFU in the report
};

// FLOPs of one forward pass over [batch, seqlen] tokens: 2 x (matrix parameters, LM head included,
// embedding lookup excluded) x tokens, plus causal attention's two matmuls (2 x T^2 x H x D per
// sequence and layer, half of the full square).
double forward_flops(const ModelConfig& c, int64_t batch, int64_t seqlen);

// Times Model::forward on random ids for each batch size; prints one line per batch size to stdout.
// JSON: {"seqlen", "prefill": [{"batch", "seconds", "tokens_per_s", "tflops", "mfu"?}], "peak_memory_bytes"}.
nlohmann::json bench_prefill(const Model& model, const BenchOptions& opts);

}  // namespace lopper
