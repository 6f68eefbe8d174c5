#include "lopper/eval/bench_generate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "lopper/eval/generate.h"
#include "lopper/model/device.h"
#include "lopper/util/error.h"

namespace lopper {

int64_t decode_weight_bytes(const Model& model) {
  int64_t bytes = 0;
  for_each_tensor(model.config, [&](const TensorSpec& spec) {
    if (spec.role == TensorRole::Embed && !model.config.tie_word_embeddings) return;  // one row per step
    const at::Tensor& t = tensor_slot(model.weights, spec);
    bytes += t.numel() * static_cast<int64_t>(t.element_size());
  });
  return bytes;
}

double measure_copy_bandwidth(const c10::Device& device) {
  c10::InferenceMode guard;
  const int64_t n = (int64_t{256} << 20) / 4;
  auto a = at::ones({n}, at::TensorOptions().dtype(at::kFloat).device(device));
  auto b = at::empty_like(a);
  b.copy_(a);  // first touch
  synchronize(device);
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    b.copy_(a);
    synchronize(device);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * static_cast<double>(n) * 4.0 / best;
}

nlohmann::json bench_generate(const Model& model, const GenerateBenchOptions& o) {
  check(o.prompt_len >= 1, "--prompt-len must be at least 1");
  check(!o.gen_lens.empty() && !o.batches.empty(), "--gen-len and --batch need at least one value each");
  check(o.warmup >= 0 && o.repeats >= 1, "--warmup must be >= 0 and --repeats >= 1");
  for (int64_t g : o.gen_lens) check(g >= 1, "--gen-len {} must be at least 1", g);
  for (int64_t b : o.batches) check(b >= 1, "--batch {} must be at least 1", b);
  const int64_t longest = o.prompt_len + *std::max_element(o.gen_lens.begin(), o.gen_lens.end());
  check(longest <= model.config.max_position_embeddings,
        "--prompt-len + --gen-len = {} exceeds the model's context ({})", longest, model.config.max_position_embeddings);
  c10::InferenceMode guard;
  const int64_t weight_bytes = decode_weight_bytes(model);
  const double bandwidth = measure_copy_bandwidth(model.device);
  std::printf("decode reads %.1f MB of weights per step; %s copy bandwidth %.1f GB/s: roofline %.0f steps/s\n",
              static_cast<double>(weight_bytes) / 1e6, model.device.is_cuda() ? "device" : "memory", bandwidth / 1e9,
              bandwidth / static_cast<double>(weight_bytes));
  nlohmann::json rows = nlohmann::json::array();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  for (int64_t b : o.batches) {
    auto prompt = at::randint(0, model.config.vocab_size, {b, o.prompt_len}, gen, at::kLong).to(model.device);
    for (int64_t g : o.gen_lens) {
      for (int i = 0; i < o.warmup; ++i) (void)generate_greedy_forced(model, prompt, g);
      synchronize(model.device);
      reset_peak_memory(model.device);
      const int64_t base = current_memory_bytes(model.device);
      std::vector<GenerationTimes> runs(static_cast<size_t>(o.repeats));
      for (auto& t : runs) (void)generate_greedy_forced(model, prompt, g, &t);
      const int64_t peak = peak_memory_bytes(model.device);
      std::sort(runs.begin(), runs.end(), [](const auto& x, const auto& y) { return x.total_s < y.total_s; });
      const GenerationTimes& med = runs[runs.size() / 2];
      const double decode_s = med.total_s - med.first_token_s;
      const double decode_tps = g > 1 ? static_cast<double>(g - 1) / decode_s : 0;  // per sequence
      const double throughput = static_cast<double>(b * g) / med.total_s;
      nlohmann::json row = {{"batch", b},
                            {"prompt_len", o.prompt_len},
                            {"gen_len", g},
                            {"latency_s", med.total_s},
                            {"latency_min_s", runs.front().total_s},
                            {"ttft_s", med.first_token_s},
                            {"decode_tokens_per_s", decode_tps},
                            {"throughput_tokens_per_s", throughput},
                            {"memory_peak_bytes", peak},
                            {"memory_growth_bytes", std::max<int64_t>(0, peak - base)},
                            {"roofline_tokens_per_s", bandwidth / static_cast<double>(weight_bytes)}};
      std::printf("generate batch %-3ld prompt %ld + %ld new: latency %9.1f ms  TTFT %8.1f ms  decode %8.1f tok/s/seq  "
                  "throughput %9.1f tok/s  memory +%.1f MB\n",
                  static_cast<long>(b), static_cast<long>(o.prompt_len), static_cast<long>(g), med.total_s * 1e3,
                  med.first_token_s * 1e3, decode_tps, throughput,
                  static_cast<double>(row["memory_growth_bytes"].get<int64_t>()) / 1e6);
      std::fflush(stdout);
      rows.push_back(row);
    }
  }
  return {{"prompt_len", o.prompt_len}, {"warmup", o.warmup},           {"repeats", o.repeats},
          {"weight_bytes", weight_bytes}, {"bandwidth_bytes_per_s", bandwidth}, {"settings", rows}};
}

}  // namespace lopper
