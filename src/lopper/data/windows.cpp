#include "lopper/data/windows.h"

#include <algorithm>

#include "lopper/util/error.h"

namespace lopper {

namespace {
// Bound on counts and lengths so that nsamples * seqlen and start + seqlen never overflow int64.
constexpr int64_t kMaxCount = int64_t{1} << 31;
}  // namespace

std::vector<EvalWindow> eval_windows(int64_t num_tokens, const EvalWindowOptions& opt) {
  const int64_t seqlen = opt.seqlen;
  check(num_tokens > 0, "no tokens to evaluate (the tokenized text is empty)");
  check(seqlen >= 2, "--seqlen {}: must be at least 2 (a window needs a next-token target)", seqlen);
  check(opt.stride >= 0 && opt.stride <= seqlen, "--stride {}: must be between 1 and --seqlen {} (0 means --seqlen)",
        opt.stride, seqlen);
  check(opt.max_windows >= 0, "--max-windows {}: must not be negative", opt.max_windows);
  check(num_tokens >= seqlen, "the data has {} tokens, fewer than one window of --seqlen {}", num_tokens, seqlen);

  const int64_t stride = opt.stride == 0 ? seqlen : opt.stride;
  int64_t count = (num_tokens - seqlen) / stride + 1;
  if (opt.max_windows > 0) count = std::min(count, opt.max_windows);
  // Targets of a later window that an earlier window already scored: all but the last
  // min(stride, seqlen-1); position 0 is never a target since nothing in the window predicts it.
  const int64_t later_first_target = seqlen - std::min(stride, seqlen - 1);
  std::vector<EvalWindow> windows;
  windows.reserve(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) windows.push_back({k * stride, k == 0 ? 1 : later_first_target});
  return windows;
}

int64_t scored_targets(const std::vector<EvalWindow>& windows, int64_t seqlen) {
  int64_t total = 0;
  for (const auto& w : windows) total += seqlen - w.first_target;
  return total;
}

Sampler parse_sampler(std::string_view name) {
  if (name == "random") return Sampler::Random;
  if (name == "consecutive") return Sampler::Consecutive;
  fail("--sampler {}: unknown sampler (use random or consecutive)", name);
}

std::string_view sampler_name(Sampler s) { return s == Sampler::Random ? "random" : "consecutive"; }

uint64_t uniform_below(std::mt19937_64& gen, uint64_t n) {
  // Accept only draws x >= 2^64 mod n: the accepted range then holds a whole multiple of n values,
  // so x % n is exactly uniform. (0 - n) % n computes 2^64 mod n in 64-bit arithmetic.
  const uint64_t threshold = (uint64_t{0} - n) % n;
  for (;;) {
    const uint64_t x = gen();
    if (x >= threshold) return x % n;
  }
}

std::vector<int64_t> calibration_starts(int64_t num_tokens, const CalibSampleOptions& opt) {
  check(opt.nsamples >= 1 && opt.nsamples < kMaxCount, "--nsamples {}: must be between 1 and {}", opt.nsamples,
        kMaxCount - 1);
  check(opt.seqlen >= 1 && opt.seqlen < kMaxCount, "--seqlen {}: must be between 1 and {}", opt.seqlen,
        kMaxCount - 1);
  std::vector<int64_t> starts;
  starts.reserve(static_cast<size_t>(opt.nsamples));
  if (opt.sampler == Sampler::Consecutive) {
    check(opt.nsamples * opt.seqlen <= num_tokens,
          "--sampler consecutive: --nsamples {} x --seqlen {} needs {} tokens, "
          "but the calibration data has only {}",
          opt.nsamples, opt.seqlen, opt.nsamples * opt.seqlen, num_tokens);
    for (int64_t k = 0; k < opt.nsamples; ++k) starts.push_back(k * opt.seqlen);
    return starts;
  }
  check(num_tokens > opt.seqlen,
        "--sampler random: needs more than --seqlen {} tokens (starts are drawn from [0, tokens - seqlen - 1]), "
        "but the calibration data has only {}",
        opt.seqlen, num_tokens);
  std::mt19937_64 gen(opt.seed);
  const auto range = static_cast<uint64_t>(num_tokens - opt.seqlen);
  for (int64_t k = 0; k < opt.nsamples; ++k) starts.push_back(static_cast<int64_t>(uniform_below(gen, range)));
  return starts;
}

std::vector<int32_t> gather_windows(const std::vector<int32_t>& ids, const std::vector<int64_t>& starts,
                                    int64_t seqlen) {
  std::vector<int32_t> out;
  out.reserve(starts.size() * static_cast<size_t>(seqlen));
  for (int64_t s : starts) {
    check(s >= 0 && seqlen >= 0 && s + seqlen <= static_cast<int64_t>(ids.size()),
          "window [{}, {}) lies outside the {} tokens", s, s + seqlen, ids.size());
    out.insert(out.end(), ids.begin() + s, ids.begin() + s + seqlen);
  }
  return out;
}

}  // namespace lopper
