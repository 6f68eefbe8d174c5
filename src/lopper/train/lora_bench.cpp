#include "lopper/train/lora_bench.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>

#include "lopper/model/device.h"
#include "lopper/train/adamw.h"
#include "lopper/train/finetune.h"
#include "lopper/util/error.h"

namespace lopper {

nlohmann::json bench_lora_training(Model& model, const std::vector<int64_t>& tokens, const LoraBenchOptions& o) {
  check(o.micro_batch >= 1 && o.seqlen >= 2 && o.steps >= 1 && o.warmup >= 0, "bench --lora-train: bad sizes");
  prepare_for_training(model);
  LoraAdapters lora(model, o.lora, 0);
  AdamW opt(lora.parameters(), {});
  // Windows: consecutive slices of the text (cycled), or random ids.
  const int64_t n = o.micro_batch * (o.steps + o.warmup) * o.seqlen;
  std::vector<int64_t> ids(static_cast<size_t>(n));
  if (tokens.empty()) {
    at::manual_seed(0);
    auto r = at::randint(model.config.vocab_size, {n}, at::kLong);
    std::copy(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + n, ids.begin());
  } else {
    for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = tokens[static_cast<size_t>(i) % tokens.size()];
  }
  std::vector<TrainExample> windows;
  for (int64_t i = 0; i < n; i += o.seqlen) {
    TrainExample ex;
    ex.ids.assign(ids.begin() + i, ids.begin() + i + o.seqlen);
    ex.labels = ex.ids;
    windows.push_back(std::move(ex));
  }
  double timed = 0;
  reset_peak_memory(model.device);
  for (int s = 0; s < o.steps + o.warmup; ++s) {
    synchronize(model.device);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<const TrainExample*> mb;
    for (int64_t b = 0; b < o.micro_batch; ++b) mb.push_back(&windows[static_cast<size_t>(s * o.micro_batch + b)]);
    for (auto& p : lora.parameters()) p.mutable_grad() = at::Tensor();
    lora.set_training(true, static_cast<uint64_t>(s));
    auto [loss, n] = lm_loss_sum(model, &lora, mb, o.grad_checkpointing);
    (loss / static_cast<double>(n)).backward();
    clip_grad_norm(lora.parameters(), 1.0);
    opt.step(1e-4);
    synchronize(model.device);
    if (s >= o.warmup) timed += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double tokens_timed = static_cast<double>(o.steps * o.micro_batch * o.seqlen);
  nlohmann::json j = {{"micro_batch", o.micro_batch}, {"seqlen", o.seqlen}, {"steps", o.steps},
                      {"grad_checkpointing", o.grad_checkpointing}, {"trainable_params", lora.num_params()},
                      {"step_seconds", timed / o.steps}, {"tokens_per_s", tokens_timed / timed},
                      {"peak_memory_bytes", peak_memory_bytes(model.device)}, {"real_text", !tokens.empty()}};
  std::printf("lora-train: micro-batch %lld x %lld tokens, r=%lld on %zu projections%s: %.3f s/step, %.0f tokens/s, "
              "peak memory %.2f GiB\n",
              (long long)o.micro_batch, (long long)o.seqlen, (long long)o.lora.rank, lora.pairs().size(),
              o.grad_checkpointing ? ", gradient checkpointing" : "", timed / o.steps, tokens_timed / timed,
              static_cast<double>(peak_memory_bytes(model.device)) / (1 << 30));
  std::fflush(stdout);
  return j;
}

}  // namespace lopper
