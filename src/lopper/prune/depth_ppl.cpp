// Perplexity-based depth scores, computed on calibration data with cached block-boundary states:
// the model runs once block by block; at each boundary the rest of the model is re-run without the
// candidate blocks, so no full forward pass is repeated from the embedding.
//   window-ppl: the n consecutive blocks whose removal gives the lowest calibration PPL (AMD Quark's
//               layer-importance pruner idea, scored on calibration data).
//   block-ppl:  Shortened LLaMA's one-shot PPL criterion: PPL with each single block removed; the n
//               lowest are removed. Reference defaults: 10 samples x 128 tokens (BookCorpus).
#include <ATen/ATen.h>

#include <cmath>

#include "lopper/calib/block_runner.h"
#include "lopper/prune/depth.h"
#include "lopper/util/progress.h"

namespace lopper {

namespace {

// PPL of the calibration data with blocks [l, l + width) removed, for every l (null where it does
// not fit).
std::vector<std::optional<double>> ppl_without_windows(const Model& m, const CalibData& calib, int width,
                                                       int64_t micro_batch, const std::string& label) {
  const int L = m.config.num_layers();
  std::vector<std::optional<double>> scores(L);
  BlockRunner runner(m, calib.ids, micro_batch);
  Progress bar(label, L - width + 1, "windows");
  for (int l = 0; l + width <= L; ++l) {
    scores[l] = std::exp(runner.loss_from(l + width, runner.hidden()));
    bar.advance();
    if (l + width < L) runner.advance();
  }
  bar.finish();
  return scores;
}

class WindowPpl : public DepthMethod {
 public:
  std::string name() const override { return "window-ppl"; }
  std::string description() const override {
    return "calibration perplexity with each window of n consecutive blocks removed; removes the best window";
  }
  DepthResult run(const Model& m, const CalibData& calib, const DepthOptions& o) const override {
    DepthResult r;
    r.score_name = "calib_ppl_without_window";
    r.scores = ppl_without_windows(m, calib, o.n_remove, o.micro_batch, "window-ppl");
    r.removed = best_window(r.scores, o.n_remove);
    return r;
  }
};

class BlockPpl : public DepthMethod {
 public:
  std::string name() const override { return "block-ppl"; }
  std::string description() const override {
    return "Shortened LLaMA PPL criterion: calibration perplexity with each single block removed; removes the n lowest";
  }
  DepthResult run(const Model& m, const CalibData& calib, const DepthOptions& o) const override {
    DepthResult r;
    r.score_name = "calib_ppl_without_block";
    r.scores = ppl_without_windows(m, calib, 1, o.micro_batch, "block-ppl");
    r.removed = lowest_k(r.scores, o.n_remove);
    return r;
  }
};

}  // namespace

std::unique_ptr<DepthMethod> make_window_ppl() { return std::make_unique<WindowPpl>(); }
std::unique_ptr<DepthMethod> make_block_ppl() { return std::make_unique<BlockPpl>(); }

}  // namespace lopper
