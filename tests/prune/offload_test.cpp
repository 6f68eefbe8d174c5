// Every prune method on a model streamed through a two-layer budget (--offload cpu
// --max-device-memory) gives the same checkpoint as on the model loaded whole: the saved
// model.safetensors and config.json are byte-identical, and the streamed run really copied layers.
// On the bundled stories260k (5 layers), calibrated on the bundled TinyStories sample.
#include <gtest/gtest.h>

#include "lopper/model/placement.h"
#include "lopper/prune/prune_command.h"
#include "lopper/prune/search/sprint_latency.h"
#include "lopper/util/fs.h"
#include "lopper/util/progress.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

// SPRINT's latency table, supplied (measuring one takes seconds and its numbers are timing noise).
std::filesystem::path latency_table(const std::filesystem::path& dir) {
  Model m = Model::load(test::bundled_model(), {"cpu", "f32"});
  LatencySettings s;
  SublayerLatency t;
  t.attn_s = 2e-3;
  t.mlp_s = 3e-3;
  t.t1_s = 0.1;
  t.key = latency_key(m, s);
  t.settings = s;
  write_file_atomic(dir / "latency.json", t.to_json().dump(2));
  return dir / "latency.json";
}

PruneRequest request(const std::string& method, const std::filesystem::path& dir) {
  Progress::set_enabled(false);
  PruneRequest r;
  r.model_dir = test::bundled_model();
  r.load = {"cpu", "f32"};
  r.method = method;
  r.calib.dataset = "tinystories";
  r.calib.nsamples = 4;
  r.calib.seqlen = 32;
  r.depth.micro_batch = 2;
  r.eval_ppl.clear();
  r.measure_speedup = false;
  const std::set<std::string> depth = {"shortgpt", "angular", "window-ppl", "block-ppl", "taylor", "sleb"};
  if (depth.count(method)) r.remove = 1;
  if (method == "blockpruner" || method == "sprint") r.remove = 2;
  if (method == "sprint") r.search.sprint.latency_file = latency_table(dir);
  if (method == "taylor") r.depth.plus_heuristic = false;  // 5 layers: the first 4 and last 2 are kept
  if (method == "evopress") {
    r.remove = 1;
    r.search.initial = 4;
    r.search.offspring = 3;
    r.search.generations = 2;
    r.search.initial_tokens = 32;
    r.search.stage_tokens = {32, 64};
  }
  if (method == "2ssp" || method == "magnitude" || method == "wanda" || method == "sparsegpt")
    r.sparsity.sparsity = 0.5;
  if (method == "osscar" || method == "ffn-l2" || method == "slicegpt") r.ratio = 0.25;
  if (method == "heads") r.width.kv_groups = 2;
  return r;
}

class OffloadedPrune : public ::testing::TestWithParam<std::string> {};

TEST_P(OffloadedPrune, SameCheckpointAsUnstreamed) {
  auto dir = test::temp_dir("offload-" + GetParam());
  auto plain = request(GetParam(), dir);
  plain.out_dir = dir / "plain";
  auto a = run_prune(plain);

  auto streamed = request(GetParam(), dir);
  streamed.out_dir = dir / "streamed";
  streamed.load.placement.offload = true;
  auto c = ModelConfig::load(test::bundled_model());
  auto p = plan_placement(c, at::kFloat, {}, {c10::Device(c10::kCPU)}, {});
  streamed.load.placement.max_device_memory =
      p.global_bytes + 2 * *std::max_element(p.layer_bytes.begin(), p.layer_bytes.end());
  auto b = run_prune(streamed);

  ASSERT_TRUE(b.contains("placement"));
  if (GetParam() != "magnitude")  // the only method that never runs the model
    EXPECT_GT(b["placement"]["layer_copies"].get<int64_t>(), 0);
  EXPECT_GT(b["peak_host_memory_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(a.value("plan", nlohmann::json()), b.value("plan", nlohmann::json()));
  EXPECT_EQ(read_file(dir / "plain/config.json"), read_file(dir / "streamed/config.json"));
  EXPECT_TRUE(read_file(dir / "plain/model.safetensors") == read_file(dir / "streamed/model.safetensors"))
      << "the streamed run's weights differ";
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Methods, OffloadedPrune,
                         ::testing::Values("shortgpt", "angular", "window-ppl", "block-ppl", "taylor", "sleb",
                                           "blockpruner", "2ssp", "evopress", "sprint", "magnitude", "wanda",
                                           "sparsegpt", "osscar", "ffn-l2", "heads", "slicegpt"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

}  // namespace
}  // namespace lopper
