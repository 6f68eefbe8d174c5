#include "lopper/eval/bench.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>

#include "lopper/model/device.h"
#include "lopper/model/weights.h"
#include "lopper/util/error.h"

namespace lopper {

double forward_flops(const ModelConfig& c, int64_t batch, int64_t seqlen) {
  const double tokens = static_cast<double>(batch) * static_cast<double>(seqlen);
  double matrix_params = static_cast<double>(c.vocab_size) * static_cast<double>(c.hidden_size);  // lm_head
  double attn = 0;
  for (const auto& l : c.layers) {
    const double C = static_cast<double>(c.hidden_size), D = static_cast<double>(c.head_dim);
    if (l.has_attn) {
      matrix_params += C * D * (2.0 * l.num_heads + 2.0 * l.num_kv_heads);  // q, o + k, v
      attn += 2.0 * static_cast<double>(seqlen) * static_cast<double>(seqlen) * l.num_heads * D;
    }
    if (l.has_mlp) matrix_params += 3.0 * C * static_cast<double>(l.intermediate_size);
  }
  if (c.slicegpt) {  // narrower matrices plus shortcuts: count the stored matrices themselves
    matrix_params = 0;
    for_each_tensor(c, [&](const TensorSpec& s) {
      if (s.shape.size() == 2 && s.role != TensorRole::Embed)
        matrix_params += static_cast<double>(s.shape[0]) * static_cast<double>(s.shape[1]);
    });
  }
  return 2.0 * matrix_params * tokens + attn * static_cast<double>(batch);
}

nlohmann::json bench_prefill(const Model& model, const BenchOptions& o) {
  check(o.seqlen >= 1, "--seqlen must be at least 1");
  check(o.iters >= 1, "--iters must be at least 1");
  check(!o.batches.empty(), "--batch: give at least one batch size");
  c10::InferenceMode guard;
  nlohmann::json rows = nlohmann::json::array();
  reset_peak_memory(model.device);
  for (int64_t b : o.batches) {
    check(b >= 1, "--batch {} must be at least 1", b);
    auto ids = at::randint(0, model.config.vocab_size, {b, o.seqlen},
                           at::TensorOptions().dtype(at::kLong).device(model.device));  // [B, T]
    (void)model.forward(ids);  // warm-up: kernel selection, allocator pools
    synchronize(model.device);
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < o.iters; ++i) (void)model.forward(ids);
    synchronize(model.device);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / o.iters;
    double tps = static_cast<double>(b * o.seqlen) / s;
    double tflops = forward_flops(model.config, b, o.seqlen) / s * 1e-12;
    nlohmann::json row = {{"batch", b}, {"seqlen", o.seqlen}, {"seconds", s}, {"tokens_per_s", tps},
                          {"tflops", tflops}};
    std::printf("prefill batch %-3ld x %ld tokens: %9.2f ms  %10.0f tokens/s  %8.3f TFLOP/s", static_cast<long>(b),
                static_cast<long>(o.seqlen), s * 1e3, tps, tflops);
    if (o.peak_tflops > 0) {
      row["mfu"] = tflops / o.peak_tflops;
      std::printf("  MFU %.3f", tflops / o.peak_tflops);
    }
    std::printf("\n");
    std::fflush(stdout);
    rows.push_back(row);
  }
  int64_t peak = peak_memory_bytes(model.device);
  std::printf("peak memory %.2f GB (%s)\n", static_cast<double>(peak) / 1e9,
              model.device.is_cuda() ? "GPU tensors" : "process RSS");
  return {{"seqlen", o.seqlen}, {"iters", o.iters}, {"prefill", rows}, {"peak_memory_bytes", peak}};
}

}  // namespace lopper
