// Perplexity against ../shared/golden: fp32 CPU, the ASSETS.md 5.1 protocol, for both models and
// all three datasets at the main seqlen (all windows) and at 128 (first 64 windows).
#include <gtest/gtest.h>

#include <cmath>

#include "lopper/data/datasets.h"
#include "lopper/eval/perplexity.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "test_paths.h"

namespace lopper {
namespace {

struct Case {
  std::string model, dataset;
};

class PerplexityGolden : public ::testing::TestWithParam<Case> {};

TEST_P(PerplexityGolden, MatchesReference) {
  LOPPER_REQUIRE_SHARED();
  Progress::set_enabled(false);
  const auto& [name, dataset] = GetParam();
  auto golden = nlohmann::json::parse(read_file(test::shared_dir() / "golden" / (name + ".json")));
  const auto& g = golden["perplexity"][dataset];
  auto dir = test::shared_dir() / "models" / name;
  auto model = Model::load(dir, {"cpu", "f32"});
  auto tok = Tokenizer::from_dir(dir);
  auto text = load_dataset(dataset, DataDirs::resolve(test::shared_dir() / "data"));
  auto ids = tok.encode(text.text);
  ASSERT_EQ(static_cast<int64_t>(ids.size()), g["n_tokens"].get<int64_t>());

  for (const char* variant : {"main", "short128_first64"}) {
    SCOPED_TRACE(variant);
    const auto& want = g[variant];
    PerplexityOptions o;
    o.seqlen = want["seqlen"].get<int64_t>();
    o.max_windows = std::string(variant) == "main" ? 0 : 64;
    auto r = perplexity(model, ids, o, dataset);
    EXPECT_EQ(r.windows, want["nsamples"].get<int64_t>());
    EXPECT_EQ(r.tokens, g["n_tokens"].get<int64_t>());
    double want_ppl = want["ppl"].get<double>();
    EXPECT_LT(std::abs(r.ppl - want_ppl) / want_ppl, 1e-5) << r.ppl << " vs " << want_ppl;
    if (want.contains("window_losses")) {
      auto wl = want["window_losses"].get<std::vector<double>>();
      ASSERT_EQ(wl.size(), r.window_losses.size());
      double worst = 0;
      for (size_t i = 0; i < wl.size(); ++i) worst = std::max(worst, std::abs(wl[i] - r.window_losses[i]));
      EXPECT_LT(worst, 5e-5) << "per-window loss";  // the golden file rounds them to 6 decimals
    }
    std::printf("[%s %s %s] ppl %.6f (golden %.6f), %ld windows\n", name.c_str(), dataset.c_str(), variant, r.ppl,
                want_ppl, static_cast<long>(r.windows));
  }
}

INSTANTIATE_TEST_SUITE_P(All, PerplexityGolden,
                         ::testing::Values(Case{"stories260k", "wikitext2"}, Case{"stories260k", "c4"},
                                           Case{"stories260k", "ptb"}, Case{"testbed-15m", "wikitext2"},
                                           Case{"testbed-15m", "c4"}, Case{"testbed-15m", "ptb"}),
                         [](const auto& info) {
                           auto n = info.param.model + "_" + info.param.dataset;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace lopper
