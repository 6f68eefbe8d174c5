#include "lopper/eval/latency.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>

#include "lopper/eval/generate.h"
#include "lopper/model/device.h"
#include "lopper/util/error.h"

namespace lopper {

LatencySettings LatencySettings::resolved(int64_t context) const {
  LatencySettings s = *this;
  if (s.mode == "prompt") {
    if (s.prompt_len == 0) s.prompt_len = std::min<int64_t>(2048, context);
    return s;
  }
  const bool fit = s.prompt_len == 0 && s.gen_len == 0 && context < 1024 + 512;
  if (s.prompt_len == 0) s.prompt_len = fit ? (2 * context) / 3 : 1024;
  if (s.gen_len == 0) s.gen_len = fit ? context - s.prompt_len : 512;
  return s;
}

nlohmann::json LatencySettings::key() const {
  nlohmann::json k = {{"mode", mode}, {"prompt_len", prompt_len}, {"batch", batch}};
  if (mode == "generation") k["gen_len"] = gen_len;
  return k;
}

nlohmann::json LatencySettings::to_json() const {
  auto j = key();
  j["warmup"] = warmup;
  j["repeats"] = repeats;
  return j;
}

void validate_latency_settings(const LatencySettings& s, int64_t context) {
  check(s.mode == "generation" || s.mode == "prompt", "--latency-mode \"{}\" is not known (generation, prompt)",
        s.mode);
  check(s.prompt_len >= 1, "--latency-prompt {} must be at least 1", s.prompt_len);
  check(s.batch >= 1, "--latency-batch {} must be at least 1", s.batch);
  check(s.warmup >= 0, "--latency-warmup {} must not be negative", s.warmup);
  check(s.repeats >= 1, "--latency-repeats {} must be at least 1", s.repeats);
  if (s.mode == "generation") {
    check(s.gen_len >= 1, "--latency-gen {} must be at least 1", s.gen_len);
    check(s.prompt_len + s.gen_len <= context,
          "--latency-prompt {} + --latency-gen {} = {} tokens exceed the model's context ({})", s.prompt_len, s.gen_len,
          s.prompt_len + s.gen_len, context);
  } else {
    check(s.prompt_len <= context, "--latency-prompt {} exceeds the model's context ({})", s.prompt_len, context);
  }
}

namespace {

double time_once(const Model& m, const at::Tensor& prompt, const LatencySettings& s) {
  synchronize(m.device);
  auto t0 = std::chrono::steady_clock::now();
  if (s.mode == "generation") {
    (void)generate_greedy_forced(m, prompt, s.gen_len);
  } else {
    ForwardContext ctx;
    (void)m.forward(prompt, ctx);  // [B, T, V], as the reference's model(random_input)
  }
  synchronize(m.device);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

LatencyResult measure_latency(const std::vector<const Model*>& models, const LatencySettings& s_in) {
  check(!models.empty(), "measure_latency: no models");
  c10::InferenceMode guard;
  const LatencySettings s = s_in.resolved(models.front()->config.max_position_embeddings);
  for (const Model* m : models) validate_latency_settings(s, m->config.max_position_embeddings);
  const Model& first = *models.front();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(s.seed);
  auto ids = at::randint(0, first.config.vocab_size, {s.batch, s.prompt_len}, gen, at::kLong);
  std::vector<at::Tensor> prompts;
  for (const Model* m : models) {
    check(m->config.vocab_size == first.config.vocab_size, "measure_latency: the models' vocabularies differ");
    prompts.push_back(ids.to(m->device));
  }
  for (size_t i = 0; i < models.size(); ++i)
    for (int w = 0; w < s.warmup; ++w) (void)time_once(*models[i], prompts[i], s);
  LatencyResult r;
  r.runs_s.assign(models.size(), {});
  for (int round = 0; round < s.repeats; ++round)
    for (size_t i = 0; i < models.size(); ++i) r.runs_s[i].push_back(time_once(*models[i], prompts[i], s));
  for (auto runs : r.runs_s) {
    std::sort(runs.begin(), runs.end());
    const size_t n = runs.size();
    r.median_s.push_back(n % 2 ? runs[n / 2] : 0.5 * (runs[n / 2 - 1] + runs[n / 2]));
  }
  return r;
}

}  // namespace lopper
