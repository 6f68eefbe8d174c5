// Encoding speed on the WikiText-2 test text (HF-style: the dataset rows joined with "\n\n", as in
// the perplexity protocol; 1.29 MB), single thread, for each tokenizer:
//   stories260k (bundled; SentencePiece-style BPE, no pre-tokenizer: each text stretch is one word),
//   testbed-15m (../shared; byte-level BPE with the Llama-3 regex),
//   llama2      (../shared; SentencePiece-style BPE, 32k vocabulary).
// "Cold" builds a fresh Tokenizer (empty word cache) for every iteration, outside the timing;
// "Warm" reuses one, so repeated words come from the cache.
// Run: ./build/bench/lopper_bench_tokenizer [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "lopper/data/datasets.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/fs.h"

namespace {

namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("LOPPER_SHARED_DIR")) return env;
  return LOPPER_SHARED_DIR;
}

const std::string& wikitext_text() {
  static const std::string text = [] {
    std::string raw =
        lopper::read_file(fs::path(LOPPER_SOURCE_DIR) / "assets/data/wikitext2/wiki.test.raw");
    std::string joined;
    bool first = true;
    for (const std::string& row : lopper::wikitext2_rows(raw)) {
      if (!first) joined += "\n\n";
      joined += row;
      first = false;
    }
    return joined;
  }();
  return text;
}

void encode_wikitext(benchmark::State& state, const fs::path& dir, bool cold) {
  if (!fs::exists(dir / "tokenizer.json")) {
    state.SkipWithError(("tokenizer not found: " + dir.string()).c_str());
    return;
  }
  const std::string& text = wikitext_text();
  auto tokenizer = lopper::Tokenizer::from_dir(dir);
  size_t tokens = 0;
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      tokenizer = lopper::Tokenizer::from_dir(dir);
      state.ResumeTiming();
    }
    auto ids = tokenizer.encode(text);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(text.size()) / 1e6,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void register_all() {
  const std::pair<const char*, fs::path> tokenizers[] = {
      {"stories260k", fs::path(LOPPER_SOURCE_DIR) / "assets/models/stories260k"},
      {"testbed-15m", shared_dir() / "models/testbed-15m"},
      {"llama2", shared_dir() / "tokenizers/llama2"},
  };
  for (const auto& [name, dir] : tokenizers) {
    for (bool cold : {true, false}) {
      std::string label = std::string("EncodeWikiText2/") + name + (cold ? "/cold" : "/warm");
      benchmark::RegisterBenchmark(label.c_str(), encode_wikitext, dir, cold)
          ->Unit(benchmark::kMillisecond)
          ->MinTime(2.0);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
