// LoRA adapters: gradients against finite differences, zero adapters leave the model unchanged,
// merged weights equal base + adapter, PEFT's layout, bad ranks and targets.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "lopper/io/safetensors.h"
#include "lopper/model/model.h"
#include "lopper/prune/surgery.h"
#include "lopper/train/lora.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

Model tiny_model(const std::string& tag, uint64_t seed = 1) {
  auto dir = test::temp_dir(tag);
  test::write_tiny_model(dir, test::tiny_config_json(), seed);
  auto m = Model::load(dir, {"cpu", "f32"});
  remove_tree(dir);
  return m;
}

at::Tensor logits(const Model& m, LoraAdapters* lora, const at::Tensor& ids) {
  c10::NoGradGuard no_grad;
  ForwardContext ctx;
  ctx.adapter = lora;
  return m.forward(ids, ctx);
}

void randomize(LoraAdapters& lora, uint64_t seed, double scale = 0.3) {
  c10::NoGradGuard no_grad;
  at::manual_seed(seed);
  for (auto& p : lora.pairs()) {
    p.a.copy_(at::randn_like(p.a) * scale);
    p.b.copy_(at::randn_like(p.b) * scale);
  }
}

// d(sum(delta(x) * R))/d{A, B, x} by autograd against central differences, all in fp64, with dropout
// on (its masks are redrawn identically on every call with the same seed).
TEST(Lora, GradientsMatchFiniteDifferences) {
  Model m = tiny_model("lora-grad");
  LoraConfig cfg;
  cfg.rank = 3;
  cfg.dropout = 0.2;
  LoraAdapters lora(m, cfg, 7);
  lora.set_training(true, 1234);
  at::manual_seed(3);
  for (auto& p : lora.pairs()) {
    p.a = (at::randn_like(p.a) * 0.5).to(at::kDouble).requires_grad_(true);
    p.b = (at::randn_like(p.b) * 0.5).to(at::kDouble).requires_grad_(true);
  }
  for (TensorRole role : {TensorRole::Q, TensorRole::Down}) {
    const int layer = 1;
    const auto& pair = *std::find_if(lora.pairs().begin(), lora.pairs().end(),
                                     [&](const auto& p) { return p.layer == layer && p.role == role; });
    const int64_t in = pair.a.size(1), out = pair.b.size(0);
    at::Tensor x = at::randn({2, 3, in}, at::kDouble).requires_grad_(true);
    at::Tensor R = at::randn({2, 3, out}, at::kDouble);
    auto f = [&] { return (lora.delta(layer, role, x) * R).sum(); };
    auto loss = f();
    loss.backward();
    double worst = 0;
    for (at::Tensor t : {pair.a, pair.b, x}) {
      at::Tensor g = t.grad().clone();
      auto flat = t.detach().view({-1});
      for (int64_t i = 0; i < flat.numel(); i += std::max<int64_t>(1, flat.numel() / 40)) {
        const double eps = 1e-6, orig = flat[i].item<double>();
        c10::NoGradGuard no_grad;
        flat[i].fill_(orig + eps);
        const double up = f().item<double>();
        flat[i].fill_(orig - eps);
        const double down = f().item<double>();
        flat[i].fill_(orig);
        const double fd = (up - down) / (2 * eps), an = g.view({-1})[i].item<double>();
        worst = std::max(worst, std::abs(fd - an) / std::max(1.0, std::abs(an)));
      }
    }
    EXPECT_LT(worst, 1e-7) << lora_module_name(role);
    std::printf("LoRA %s: max gradient error against finite differences %.2e\n", lora_module_name(role).c_str(), worst);
  }
}

TEST(Lora, ZeroAdaptersLeaveTheModelUnchanged) {
  Model m = tiny_model("lora-zero");
  auto ids = at::randint(0, 64, {2, 17}, at::kLong);
  auto base = logits(m, nullptr, ids);
  LoraAdapters lora(m, {}, 5);  // fresh: B = 0
  lora.set_training(true, 9);   // dropout on: still exactly nothing added
  EXPECT_TRUE(at::equal(logits(m, &lora, ids), base));
  randomize(lora, 1);
  EXPECT_FALSE(at::equal(logits(m, &lora, ids), base));
  {
    c10::NoGradGuard no_grad;
    for (auto& p : lora.pairs()) p.a.zero_(), p.b.zero_();
  }
  EXPECT_TRUE(at::equal(logits(m, &lora, ids), base));
}

// Merged weights (W + s B A, rounded once) against the unmerged forward. On the tiny model the logits
// agree to 1e-5. On stories260k and testbed-15m (|logit| 16 to 30) fp32 rounding alone moves them by
// 1e-5 to 2e-5 (the floor: the same model with its batch computed through another matrix-product
// path), so there the difference must stay within twice that floor and 2e-6 of the largest logit.
void expect_merge_matches(Model m, const char* name, double abs_tol, double rel_tol) {
  at::manual_seed(0);
  auto ids = at::randint(0, m.config.vocab_size, {1, 48}, at::kLong);
  LoraConfig cfg;
  cfg.rank = 4;
  LoraAdapters lora(m, cfg, 3);
  randomize(lora, 2, 0.02);  // about the size of a trained adapter
  lora.set_training(false);
  auto with_adapter = logits(m, &lora, ids);
  auto base = logits(m, nullptr, ids);
  auto floor = (logits(m, nullptr, at::cat({ids, ids, ids, ids, ids, ids}, 0))[0] - base[0]).abs().max().item<double>();
  lora.merge_into(m);
  auto merged = logits(m, nullptr, ids);
  const double diff = (merged - with_adapter).abs().max().item<double>();
  const double moved = (with_adapter - base).abs().max().item<double>();
  const double scale = with_adapter.abs().max().item<double>();
  std::printf("%s: merged vs base+adapter max |dlogit| %.3g (relative %.3g; the adapter moved logits by %.3g; fp32 "
              "floor %.3g)\n", name, diff, diff / scale, moved, floor);
  EXPECT_LT(diff, std::max(abs_tol, 2 * floor));  // within twice the model's own fp32 rounding floor
  EXPECT_LT(diff / scale, rel_tol);
  EXPECT_GT(moved, 0.05);
}

TEST(Lora, MergedWeightsEqualBasePlusAdapter) {
  expect_merge_matches(tiny_model("lora-merge"), "tiny", 1e-5, 2e-6);
  expect_merge_matches(Model::load(test::bundled_model(), {"cpu", "f32"}), "stories260k", 1e-5, 2e-6);
  if (!test::have_shared()) return;
  expect_merge_matches(Model::load(test::shared_dir() / "models/testbed-15m", {"cpu", "f32"}), "testbed-15m", 1e-5, 2e-6);
}

TEST(Lora, PeftLayoutSavesAndReloads) {
  Model m = tiny_model("lora-peft");
  remove_attention(m, 1);  // heterogeneous: no q/k/v/o adapters in layer 1
  LoraConfig cfg;
  cfg.targets = {TensorRole::Q, TensorRole::V, TensorRole::Down};
  LoraAdapters lora(m, cfg, 11);
  randomize(lora, 4);
  EXPECT_EQ(lora.pairs().size(), 2u * 2 + 3u);
  auto dir = test::temp_dir("lora-peft-out");
  lora.save_peft(dir, "base/model");
  auto cfg_json = nlohmann::json::parse(read_file(dir / "adapter_config.json"));
  EXPECT_EQ(cfg_json["peft_type"], "LORA");
  EXPECT_EQ(cfg_json["task_type"], "CAUSAL_LM");
  EXPECT_EQ(cfg_json["r"], 8);
  EXPECT_EQ(cfg_json["lora_alpha"], 16.0);
  EXPECT_EQ(cfg_json["target_modules"], nlohmann::json({"q_proj", "v_proj", "down_proj"}));
  auto st = SafetensorsFile::open(dir / "adapter_model.safetensors");
  const auto* a = st->find("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
  const auto* b = st->find("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{8, 32}));
  EXPECT_EQ(b->shape, (std::vector<int64_t>{32, 8}));
  EXPECT_EQ(a->dtype, "F32");
  EXPECT_EQ(st->find("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"), nullptr);
  LoraAdapters again(m, cfg, 99);
  again.load_peft_weights(dir / "adapter_model.safetensors");
  for (size_t i = 0; i < lora.pairs().size(); ++i) {
    EXPECT_TRUE(at::equal(again.pairs()[i].a, lora.pairs()[i].a));
    EXPECT_TRUE(at::equal(again.pairs()[i].b, lora.pairs()[i].b));
  }
  remove_tree(dir);
}

TEST(Lora, BadRankAndTargetsAreOneLineErrors) {
  Model m = tiny_model("lora-bad");
  LoraConfig cfg;
  cfg.rank = 33;  // hidden 32
  try {
    LoraAdapters lora(m, cfg, 0);
    FAIL() << "rank 33 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--lora-rank 33 is larger than layer 0's q_proj"), std::string::npos) << e.what();
  }
  cfg.rank = 0;
  EXPECT_THROW(LoraAdapters(m, cfg, 0), InputError);
  EXPECT_EQ(parse_lora_targets("q,v_proj,down").size(), 3u);
  EXPECT_EQ(parse_lora_targets("all").size(), 7u);
  EXPECT_THROW(parse_lora_targets("q,lm_head"), InputError);
}

}  // namespace
}  // namespace lopper
