// Placement and layer streaming (--offload cpu, --max-device-memory, --devices): the budget rules
// and their errors, and streamed runs identical to unstreamed ones (forward, perplexity, generation,
// a master edited between runs), with copies really made (so the tests cannot pass by not streaming).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lopper/data/datasets.h"
#include "lopper/eval/generate.h"
#include "lopper/eval/perplexity.h"
#include "lopper/model/model.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/progress.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Budget for the embeddings, final norm and LM head plus `layers` of the largest decoder layer.
int64_t budget_of(const ModelConfig& c, at::ScalarType dtype, int layers) {
  auto p = plan_placement(c, dtype, {}, {c10::Device(c10::kCPU)}, {});
  return p.global_bytes + layers * *std::max_element(p.layer_bytes.begin(), p.layer_bytes.end());
}

LoadOptions streamed(const std::filesystem::path& dir, int layers) {
  LoadOptions o{"cpu", "f32"};
  o.placement.offload = true;
  o.placement.max_device_memory = budget_of(ModelConfig::load(dir), at::kFloat, layers);
  return o;
}

TEST(Placement, MemorySizes) {
  EXPECT_EQ(parse_memory_size("4GB", "--max-device-memory"), 4000000000);
  EXPECT_EQ(parse_memory_size("4G", "--max-device-memory"), 4000000000);
  EXPECT_EQ(parse_memory_size("512MiB", "--max-device-memory"), 512 << 20);
  EXPECT_EQ(parse_memory_size("1.5gib", "--max-device-memory"), 3LL << 29);
  EXPECT_EQ(parse_memory_size("123456", "--max-device-memory"), 123456);
  for (const char* bad : {"", "GB", "-1GB", "0", "4XB", "nan"})
    EXPECT_NE(error_of([&] { parse_memory_size(bad, "--max-device-memory"); }).find("--max-device-memory"),
              std::string::npos)
        << bad;
}

TEST(Placement, BudgetRules) {
  auto c = ModelConfig::load(test::bundled_model());
  const int L = c.num_layers();
  const auto cpu = std::vector<c10::Device>{c10::Device(c10::kCPU)};
  PlacementOptions o;
  o.offload = true;
  // Two layers' room: every layer streams through two slots (the next one prefetched).
  o.max_device_memory = budget_of(c, at::kFloat, 2);
  auto p = plan_placement(c, at::kFloat, o, cpu, {});
  EXPECT_EQ(p.slots, 2);
  EXPECT_EQ(p.streamed_layers(), L);
  // One layer: no prefetch. Everything: nothing streams.
  o.max_device_memory = budget_of(c, at::kFloat, 1);
  EXPECT_EQ(plan_placement(c, at::kFloat, o, cpu, {}).slots, 1);
  o.max_device_memory = budget_of(c, at::kFloat, L);
  EXPECT_EQ(plan_placement(c, at::kFloat, o, cpu, {}).streamed_layers(), 0);
  // Room for 2 streamed + 1 resident: the first layer stays, the rest stream.
  o.max_device_memory = budget_of(c, at::kFloat, 3);
  p = plan_placement(c, at::kFloat, o, cpu, {});
  EXPECT_TRUE(p.resident[0]);
  EXPECT_EQ(p.streamed_layers(), L - 1);
  // Less than the globals and one layer: the error gives the minimum.
  o.max_device_memory = budget_of(c, at::kFloat, 1) - 1;
  auto e = error_of([&] { plan_placement(c, at::kFloat, o, cpu, {}); });
  EXPECT_NE(e.find("is less than the minimum for cpu: " + format_bytes(budget_of(c, at::kFloat, 1))),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("largest decoder layer"), std::string::npos) << e;
  // Without --offload a model over the budget is refused with the way out.
  o.offload = false;
  o.max_device_memory = budget_of(c, at::kFloat, 2);
  e = error_of([&] { plan_placement(c, at::kFloat, o, cpu, {}); });
  EXPECT_NE(e.find("add --offload cpu"), std::string::npos) << e;
}

TEST(Placement, AbsentDevicesAreOneLineErrors) {
  if (at::hasCUDA()) GTEST_SKIP() << "a GPU is visible";
  auto e = error_of([] { parse_device_list("cuda:0,cuda:1"); });
  EXPECT_NE(e.find("--devices: cuda:0 is not available"), std::string::npos) << e;
  EXPECT_NE(error_of([] { parse_device_list("cpu,cpu"); }).find("listed twice"), std::string::npos);
  EXPECT_NE(error_of([] { parse_device_list("tpu:0"); }).find("--devices"), std::string::npos);
  LoadOptions o{"cpu", "f32"};
  o.placement.devices = {"cuda:0", "cuda:1"};
  e = error_of([&] { Model::load(test::bundled_model(), o); });
  EXPECT_NE(e.find("--devices: cuda:0 is not available"), std::string::npos) << e;
}

TEST(Placement, TooSmallBudgetFailsAtLoad) {
  LoadOptions o{"cpu", "f32"};
  o.placement.offload = true;
  o.placement.max_device_memory = 1000;
  auto e = error_of([&] { Model::load(test::bundled_model(), o); });
  EXPECT_NE(e.find("--max-device-memory 1.0 KB is less than the minimum"), std::string::npos) << e;
}

class Streamed : public ::testing::Test {
 protected:
  void SetUp() override {
    LOPPER_REQUIRE_SHARED();
    Progress::set_enabled(false);
    dir_ = test::shared_dir() / "models/testbed-15m";
    plain_.emplace(Model::load(dir_, {"cpu", "f32"}));
    stream_.emplace(Model::load(dir_, streamed(dir_, 2)));
  }
  int64_t copies() const { return stream_->stream->stats()["layer_copies"].get<int64_t>(); }
  std::filesystem::path dir_;
  std::optional<Model> plain_, stream_;
};

TEST_F(Streamed, ForwardIsIdenticalAndCopiesEveryLayer) {
  ASSERT_TRUE(stream_->offloaded());
  EXPECT_EQ(stream_->stream->placement(*stream_).streamed_layers(), stream_->config.num_layers());
  auto ids = at::randint(0, plain_->config.vocab_size, {2, 48}, at::kLong);
  auto a = plain_->forward(ids), b = stream_->forward(ids);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_EQ(copies(), stream_->config.num_layers());  // each layer copied once for the pass
  (void)stream_->forward(ids);
  EXPECT_EQ(copies(), 2 * stream_->config.num_layers());  // and released after: copied again
}

TEST_F(Streamed, PerplexityAndGenerationAreIdentical) {
  auto tok = Tokenizer::from_dir(dir_);
  auto text = load_dataset("wikitext2", DataDirs::resolve(test::shared_dir() / "data"));
  auto ids = tok.encode(text.text.substr(0, 8000));  // enough for the windows below
  PerplexityOptions o;
  o.seqlen = 128;
  o.max_windows = 6;
  o.batch = 2;
  auto a = perplexity(*plain_, ids, o, "wikitext2"), b = perplexity(*stream_, ids, o, "wikitext2");
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.window_losses, b.window_losses);
  GenerateOptions g;
  g.max_new_tokens = 12;
  g.greedy = true;
  std::vector<int64_t> prompt(ids.begin(), ids.begin() + 20);
  EXPECT_EQ(generate(*plain_, prompt, g), generate(*stream_, prompt, g));
  g.greedy = false;
  g.seed = 7;
  g.top_k = 20;
  EXPECT_EQ(generate(*plain_, prompt, g), generate(*stream_, prompt, g));
}

TEST_F(Streamed, EditedMastersAreSeen) {
  // A streamed layer's copy is reused while its master is unchanged (micro-batches of one layer);
  // an edit of the master, in place or by a replaced tensor, must make a new copy.
  auto ids = at::randint(0, plain_->config.vocab_size, {1, 32}, at::kLong);
  auto h = plain_->embed(ids);
  auto run = [&](const Model& m) {
    ForwardContext ctx;
    return m.run_layer(0, h, ctx);
  };
  EXPECT_TRUE(at::equal(run(*plain_), run(*stream_)));
  EXPECT_EQ(copies(), 1);
  (void)run(*stream_);
  EXPECT_EQ(copies(), 1);  // reused
  for (Model* m : {&*plain_, &*stream_}) m->weights.layers[0].mlp->down.mul_(0.5);  // in place
  EXPECT_TRUE(at::equal(run(*plain_), run(*stream_)));
  EXPECT_EQ(copies(), 2);
  for (Model* m : {&*plain_, &*stream_}) m->weights.layers[0].attn->q = m->weights.layers[0].attn->q * 1.25;
  EXPECT_TRUE(at::equal(run(*plain_), run(*stream_)));
  EXPECT_EQ(copies(), 3);
  // Resident layers (a budget with room to spare) run on their masters: no copy at all.
  Model resident = Model::load(dir_, streamed(dir_, 5));
  const auto& p = resident.stream->placement(resident);
  ASSERT_TRUE(p.resident[0]);
  ASSERT_GT(p.streamed_layers(), 0);
  (void)resident.forward(ids);
  EXPECT_EQ(resident.stream->stats()["layer_copies"].get<int64_t>(), p.streamed_layers());
}

}  // namespace
}  // namespace lopper
