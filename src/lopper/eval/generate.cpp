#include "lopper/eval/generate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include "lopper/model/device.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

std::vector<int64_t> eos_ids(const ModelConfig& c) {
  std::vector<int64_t> out;
  if (c.raw.contains("eos_token_id")) {
    const auto& e = c.raw["eos_token_id"];
    if (e.is_number_integer()) out.push_back(e.get<int64_t>());
    if (e.is_array())
      for (const auto& x : e)
        if (x.is_number_integer()) out.push_back(x.get<int64_t>());
  }
  return out;
}

// Picks the next token from fp32 logits [V].
int64_t pick(const at::Tensor& logits, const GenerateOptions& o, std::mt19937_64& rng) {
  if (o.greedy || o.temperature <= 0) return logits.argmax().item<int64_t>();
  auto probs = at::softmax(logits.to(at::kCPU, at::kDouble) / o.temperature, -1).contiguous();
  const double* p = probs.data_ptr<double>();
  std::vector<int64_t> order(probs.numel());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  size_t keep = order.size();
  if (o.top_k > 0) keep = std::min(keep, static_cast<size_t>(o.top_k));
  if (o.top_p < 1.0) {
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[order[i]];
      if (cum >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  double total = 0;
  for (size_t i = 0; i < keep; ++i) total += p[order[i]];
  // 53 random bits -> uniform in [0, 1): identical on every platform, unlike std distributions.
  double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * total;
  for (size_t i = 0; i < keep; ++i) {
    u -= p[order[i]];
    if (u < 0) return order[i];
  }
  return order[keep - 1];
}

}  // namespace

std::vector<int64_t> generate(const Model& model, const std::vector<int64_t>& prompt, const GenerateOptions& o) {
  check(!prompt.empty(), "generate: the prompt is empty (give at least one token id)");
  check(o.max_new_tokens >= 0, "generate: -n must not be negative");
  check(o.temperature >= 0, "generate: temperature must not be negative");
  c10::InferenceMode guard;
  std::mt19937_64 rng(o.seed);
  auto eos = eos_ids(model.config);
  std::vector<int64_t> ids = prompt;
  KVCache cache(model.config.num_layers());
  ForwardContext ctx;
  if (o.use_cache) ctx.cache = &cache;
  auto as_tensor = [&](size_t from) {
    return at::tensor(std::vector<int64_t>(ids.begin() + static_cast<std::ptrdiff_t>(from), ids.end()),
                      at::kLong).unsqueeze(0);  // [1, T]
  };
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    at::Tensor logits;  // [1, V]
    if (o.use_cache) {
      logits = model.forward_last(as_tensor(static_cast<size_t>(cache.length())), ctx);
    } else {
      ForwardContext fresh;
      logits = model.forward_last(as_tensor(0), fresh);
    }
    auto last = logits[0].to(at::kFloat);  // [V]
    int64_t next = pick(last, o, rng);
    ids.push_back(next);
    if (o.on_token && !o.on_token(next)) break;
    if (o.stop_at_eos && std::find(eos.begin(), eos.end(), next) != eos.end()) break;
  }
  return ids;
}

at::Tensor generate_greedy_forced(const Model& model, const at::Tensor& prompt, int64_t n, GenerationTimes* times) {
  check(prompt.dim() == 2 && prompt.size(1) >= 1, "generate: the prompt must be [batch, tokens] with tokens >= 1");
  check(n >= 1, "generate: at least one new token");
  c10::InferenceMode guard;
  KVCache cache(model.config.num_layers());
  ForwardContext ctx;
  ctx.cache = &cache;
  synchronize(model.device);
  const auto t0 = std::chrono::steady_clock::now();
  auto next = model.forward_last(prompt.to(model.device, at::kLong), ctx).argmax(-1, true);  // [B, 1]
  synchronize(model.device);
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<at::Tensor> out{next};
  out.reserve(static_cast<size_t>(n));
  // The next input stays on the device: no host round trip per step.
  for (int64_t i = 1; i < n; ++i) {
    next = model.forward_last(next, ctx).argmax(-1, true);
    out.push_back(next);
  }
  synchronize(model.device);
  const auto t2 = std::chrono::steady_clock::now();
  if (times) {
    times->first_token_s = std::chrono::duration<double>(t1 - t0).count();
    times->total_s = std::chrono::duration<double>(t2 - t0).count();
  }
  return at::cat(out, 1);  // [B, n]
}

}  // namespace lopper
