// Cutting a token stream into fixed-length windows: evaluation windows (perplexity) and calibration
// samples. Everything here works on token counts and offsets, so it serves any id container.
#pragma once
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace lopper {

// ---- evaluation ----

struct EvalWindowOptions {
  int64_t seqlen = 0;
  int64_t stride = 0;       // distance between window starts; 0 = seqlen (non-overlapping)
  int64_t max_windows = 0;  // keep only the first N windows; 0 = all
};

// Window ids[start, start + seqlen), fed to the model alone. Its logits at positions
// first_target-1 .. seqlen-2 are scored against the tokens at positions first_target .. seqlen-1.
struct EvalWindow {
  int64_t start;
  int64_t first_target;
};

// Windows start at 0, stride, 2*stride, ... while a whole window fits (the tail is dropped).
// Window 0 scores all its seqlen-1 next-token predictions; a later window scores only its last
// min(stride, seqlen-1) predictions.
//   * stride == seqlen (the default) is the golden protocol: floor(n/seqlen) windows, each scoring
//     seqlen-1 targets (a window's first token is never a target: nothing in the window predicts it).
//   * stride < seqlen is HF sliding-window perplexity with the partial last window dropped: a later
//     window scores exactly the tokens no earlier window scored, so every token from position 1 to
//     the end of the last window is scored once, and after window 0 each with at least
//     seqlen-stride tokens of context.
// Loss = sum of the scored NLLs / total scored targets; with the default stride every window has
// seqlen-1 targets, so that equals the mean of the per-window mean losses.
std::vector<EvalWindow> eval_windows(int64_t num_tokens, const EvalWindowOptions& opt);

// Total number of scored targets over `windows`.
int64_t scored_targets(const std::vector<EvalWindow>& windows, int64_t seqlen);

// ---- calibration ----

enum class Sampler {
  Random,       // GPTQ / SparseGPT / Wanda: independent uniform window starts (with replacement)
  Consecutive,  // 2SSP: back-to-back windows from the start of the text
};

// Parses a --sampler value ("random" or "consecutive").
Sampler parse_sampler(std::string_view name);
std::string_view sampler_name(Sampler s);

struct CalibSampleOptions {
  Sampler sampler = Sampler::Random;
  int64_t nsamples = 128;
  int64_t seqlen = 2048;
  uint64_t seed = 0;
};

// Start offsets of the calibration windows ids[start, start + seqlen).
//   random:      sample k starts at uniform_below(gen, n - seqlen) with gen = std::mt19937_64(seed),
//                i.e. uniformly in [0, n - seqlen - 1] like the references'
//                random.randint(0, n - seqlen - 1) (the last possible start, n - seqlen, is never
//                drawn, as in GPTQ). Needs n > seqlen.
//   consecutive: sample k starts at k * seqlen. Needs nsamples * seqlen <= n.
std::vector<int64_t> calibration_starts(int64_t num_tokens, const CalibSampleOptions& opt);

// Uniform integer in [0, n) for n >= 1, without modulo bias. Portable, unlike
// std::uniform_int_distribution, whose mapping differs between standard libraries: the raw
// std::mt19937_64 sequence is fixed by the standard, and this mapping is fixed here.
uint64_t uniform_below(std::mt19937_64& gen, uint64_t n);

// The windows ids[s, s + seqlen) for each s in `starts`, concatenated (a [starts.size(), seqlen]
// row-major batch). The windows must lie inside `ids`.
std::vector<int32_t> gather_windows(const std::vector<int32_t>& ids, const std::vector<int64_t>& starts,
                                    int64_t seqlen);

}  // namespace lopper
