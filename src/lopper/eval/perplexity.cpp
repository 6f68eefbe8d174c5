#include "lopper/eval/perplexity.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "lopper/data/windows.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"

namespace lopper {

nlohmann::json PerplexityResult::to_json() const {
  return {{"ppl", ppl},         {"loss", loss},       {"tokens", tokens},
          {"windows", windows}, {"seqlen", seqlen},   {"stride", stride},
          {"targets", targets}, {"seconds", seconds}, {"window_losses", window_losses}};
}

int64_t default_seqlen(const ModelConfig& c) { return std::min<int64_t>(c.max_position_embeddings, 2048); }

at::Tensor next_token_nll_sum(const at::Tensor& logits, const at::Tensor& ids, int64_t first_target) {
  const int64_t T = logits.size(1);
  // Position t-1 predicts token t; fp32 log-softmax whatever the model dtype.
  auto pred = logits.narrow(1, first_target - 1, T - first_target).to(at::kFloat);  // [B, n, V]
  auto tgt = ids.narrow(1, first_target, T - first_target).to(logits.device(), at::kLong);  // [B, n]
  auto logp = at::log_softmax(pred, -1);
  auto nll = -logp.gather(2, tgt.unsqueeze(2)).squeeze(2);  // [B, n]
  return nll.to(at::kDouble).sum(1);                        // [B]
}

PerplexityResult perplexity(const Model& model, const std::vector<int32_t>& ids, PerplexityOptions o,
                            const std::string& label) {
  c10::InferenceMode guard;
  auto t0 = std::chrono::steady_clock::now();
  if (o.seqlen == 0) o.seqlen = default_seqlen(model.config);
  check(o.seqlen >= 2, "--seqlen {} is too short (need at least 2 tokens)", o.seqlen);
  if (o.batch == 0) {
    // Auto: batch windows while the fp32 logits of a batch stay under ~256 MB and the batch under
    // 8k tokens: amortizes per-op overhead for small models, keeps memory flat for large vocabularies.
    const int64_t logits_bytes = o.seqlen * model.config.vocab_size * 4;
    o.batch = std::clamp<int64_t>(std::min((int64_t{256} << 20) / logits_bytes, 8192 / o.seqlen), 1, 64);
  }
  check(o.batch >= 1, "--batch must be at least 1");
  check(o.seqlen <= model.config.max_position_embeddings || o.allow_long_context,
        "--seqlen {} exceeds the model's context ({} = max_position_embeddings); pass --allow-long-context "
        "to evaluate anyway", o.seqlen, model.config.max_position_embeddings);
  check(!ids.empty(), "{}: the text is empty after tokenization", label);
  check(static_cast<int64_t>(ids.size()) >= o.seqlen, "{}: {} tokens are fewer than one window of --seqlen {}",
        label, ids.size(), o.seqlen);
  auto windows = eval_windows(static_cast<int64_t>(ids.size()), {o.seqlen, o.stride, o.max_windows});

  PerplexityResult r;
  r.dataset = label;
  r.tokens = static_cast<int64_t>(ids.size());
  r.seqlen = o.seqlen;
  r.stride = o.stride ? o.stride : o.seqlen;
  r.windows = static_cast<int64_t>(windows.size());
  r.window_losses.reserve(windows.size());
  Progress bar("ppl " + label, r.windows, "windows");
  double total = 0;
  for (size_t w0 = 0; w0 < windows.size(); w0 += static_cast<size_t>(o.batch)) {
    // Windows with the same first target batch together (all of them, except the first with a stride).
    size_t w1 = std::min(windows.size(), w0 + static_cast<size_t>(o.batch));
    for (size_t w = w0 + 1; w < w1; ++w)
      if (windows[w].first_target != windows[w0].first_target) {
        w1 = w;
        break;
      }
    std::vector<int64_t> starts;
    for (size_t w = w0; w < w1; ++w) starts.push_back(windows[w].start);
    auto flat = gather_windows(ids, starts, o.seqlen);
    auto batch = at::from_blob(flat.data(), {static_cast<int64_t>(starts.size()), o.seqlen}, at::kInt)
                     .to(at::kLong)
                     .to(model.device);                             // [B, T]
    auto logits = model.forward(batch);                             // [B, T, V]
    const int64_t first = windows[w0].first_target, n = o.seqlen - first;
    auto sums = next_token_nll_sum(logits, batch, first).to(at::kCPU);  // [B]
    for (int64_t b = 0; b < sums.size(0); ++b) {
      double s = sums[b].item<double>();
      total += s;
      r.targets += n;
      r.window_losses.push_back(s / static_cast<double>(n));
    }
    bar.set(static_cast<int64_t>(w1));
  }
  bar.finish();
  r.loss = total / static_cast<double>(r.targets);
  r.ppl = std::exp(r.loss);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace lopper
