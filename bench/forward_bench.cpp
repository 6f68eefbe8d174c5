// Forward-pass throughput on CPU: testbed-15m (from ../shared) or the bundled stories260k at a
// given sequence length, plus raw GEMM throughput of the shapes involved. Reports tokens/s.
//   lopper_bench_forward --benchmark_filter=Forward
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "lopper/model/model.h"

namespace {

std::filesystem::path model_dir(const std::string& name) {
  if (name == "stories260k") return std::filesystem::path(LOPPER_SOURCE_DIR) / "assets/models/stories260k";
  return std::filesystem::path(LOPPER_SHARED_DIR) / "models" / name;
}

void BM_Forward(benchmark::State& state, const std::string& name, int64_t seqlen, int64_t batch) {
  auto dir = model_dir(name);
  if (!std::filesystem::exists(dir)) {
    state.SkipWithError(("model not found: " + dir.string()).c_str());
    return;
  }
  c10::InferenceMode guard;
  auto m = lopper::Model::load(dir, {"cpu", "f32"});
  auto ids = at::randint(0, m.config.vocab_size, {batch, seqlen}, at::kLong);
  for (auto _ : state) benchmark::DoNotOptimize(m.forward(ids));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch * seqlen), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_Gemm(benchmark::State& state) {
  c10::InferenceMode guard;
  auto a = at::randn({state.range(0), state.range(1)});
  auto b = at::randn({state.range(2), state.range(1)});
  for (auto _ : state) benchmark::DoNotOptimize(at::linear(a, b));
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * state.range(0) * state.range(1) * state.range(2) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_Forward, testbed15m_1024, std::string("testbed-15m"), 1024, 1)->Unit(benchmark::kMillisecond)->MinTime(3)->UseRealTime();
BENCHMARK_CAPTURE(BM_Forward, stories260k_512, std::string("stories260k"), 512, 1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Gemm)->Args({1024, 256, 768})->Args({1024, 768, 256})->Args({1024, 256, 8192})->Args({2048, 2048, 2048})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
