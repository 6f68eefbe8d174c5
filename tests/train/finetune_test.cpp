// The training loop on the bundled stories260k: the loss decreases, resuming equals an uninterrupted
// run, micro-batches equal one batch, gradient checkpointing equals plain backprop, pruned
// (heterogeneous) models train, merge, save and reload.
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <gtest/gtest.h>

#include "lopper/model/save.h"
#include "lopper/prune/surgery.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/train/finetune.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"
#include "model/tiny_model.h"
#include "test_paths.h"

namespace lopper {
namespace {

std::vector<TrainExample> story_windows(int64_t cutoff) {
  const std::string sentences[] = {"Lily saw a big red ball in the park. ", "Tom and his dog ran to the tree. ",
                                   "The sun was warm and the sky was blue. ", "Mom gave Ben a cake for his birthday. "};
  std::string text;
  for (int i = 0; i < 60; ++i) text += sentences[(i * 7 + i / 3) % 4];
  auto tok = Tokenizer::from_dir(test::bundled_model());
  auto ids = tok.encode(text);
  std::vector<TrainExample> out;
  for (size_t s = 0; s + 1 < ids.size(); s += cutoff) {
    TrainExample ex;
    ex.ids.assign(ids.begin() + s, ids.begin() + std::min(ids.size(), s + cutoff));
    ex.labels = ex.ids;
    out.push_back(ex);
  }
  return out;
}

FinetuneOptions quick_options() {
  FinetuneOptions o;
  o.epochs = 1;
  o.batch = 4;
  o.micro_batch = 2;
  o.lr = 2e-3;
  o.warmup_steps = 1;
  o.eval_steps = 0;
  o.verbose = false;
  return o;
}

Model bundled() { return Model::load(test::bundled_model(), {"cpu", "f32"}); }

TEST(Finetune, LossDecreasesOnASmallFile) {
  auto data = story_windows(48);
  std::vector<TrainExample> val(data.end() - 3, data.end()), train(data.begin(), data.end() - 3);
  Model m = bundled();
  LoraAdapters lora(m, {}, 1);
  auto o = quick_options();
  o.epochs = 4;
  o.eval_steps = 4;
  auto r = run_finetune(m, lora, train, val, o);
  ASSERT_TRUE(r.finished);
  ASSERT_GE(r.val_loss.size(), 2u);
  std::printf("val loss %.4f -> %.4f over %lld steps; train loss %.4f -> %.4f\n", r.val_loss.front().second,
              r.val_loss.back().second, (long long)r.steps, r.train_loss.front(), r.train_loss.back());
  EXPECT_EQ(r.val_loss.front().first, 0);
  EXPECT_EQ(r.val_loss.back().first, r.total_steps);
  EXPECT_LT(r.val_loss.back().second, r.val_loss.front().second - 0.1);
  EXPECT_LT(r.train_loss.back(), r.train_loss.front());
  EXPECT_DOUBLE_EQ(r.val_loss.front().second, mean_loss(bundled(), nullptr, val, 2));  // fresh adapter = base model
}

TEST(Finetune, ResumeEqualsUninterrupted) {
  auto data = story_windows(32);
  std::vector<TrainExample> val(data.begin(), data.begin() + 2), train(data.begin() + 2, data.end());
  auto o = quick_options();
  o.epochs = 2;  // crosses an epoch boundary: the data order must be rebuilt on resume
  o.eval_steps = 3;
  Model m1 = bundled();
  LoraAdapters full(m1, {}, 5);
  auto r_full = run_finetune(m1, full, train, val, o);
  ASSERT_GT(r_full.total_steps, 4);

  auto state = test::temp_dir("ft-resume");
  o.state_dir = state;
  o.stop_after = r_full.total_steps / 2 + 1;
  Model m2 = bundled();
  LoraAdapters first(m2, {}, 5);
  auto r_first = run_finetune(m2, first, train, val, o);
  EXPECT_FALSE(r_first.finished);
  EXPECT_EQ(r_first.steps, o.stop_after);
  o.stop_after = 0;
  o.resume = true;
  Model m3 = bundled();
  LoraAdapters resumed(m3, {}, 777);  // a different init: everything must come from the state
  auto r_resumed = run_finetune(m3, resumed, train, val, o);
  EXPECT_TRUE(r_resumed.finished);
  EXPECT_EQ(r_resumed.train_loss, r_full.train_loss);
  EXPECT_EQ(r_resumed.val_loss, r_full.val_loss);
  for (size_t i = 0; i < full.pairs().size(); ++i) {
    EXPECT_TRUE(at::equal(resumed.pairs()[i].a, full.pairs()[i].a)) << i;
    EXPECT_TRUE(at::equal(resumed.pairs()[i].b, full.pairs()[i].b)) << i;
  }
  // A resume with other settings is refused, naming the setting.
  o.lr = 1e-3;
  Model m4 = bundled();
  LoraAdapters other(m4, {}, 5);
  try {
    run_finetune(m4, other, train, val, o);
    FAIL() << "resumed with another learning rate";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("made with lr"), std::string::npos) << e.what();
  }
  remove_tree(state);
}

TEST(Finetune, MicroBatchesGiveTheSameUpdateAsOneBatch) {
  auto data = story_windows(40);
  std::vector<TrainExample> train(data.begin(), data.begin() + 8);
  train[3].ids.resize(17), train[3].labels.resize(17);  // unequal lengths: padding must not count
  LoraConfig cfg;
  cfg.dropout = 0;
  std::vector<std::vector<at::Tensor>> results;
  for (int64_t micro : {4, 2, 1}) {
    auto o = quick_options();
    o.batch = 4;
    o.micro_batch = micro;
    Model m = bundled();
    LoraAdapters lora(m, cfg, 3);
    run_finetune(m, lora, train, {}, o);
    results.push_back(lora.parameters());
  }
  for (size_t k = 1; k < results.size(); ++k)
    for (size_t i = 0; i < results[0].size(); ++i)
      EXPECT_TRUE(at::allclose(results[k][i], results[0][i], 1e-5, 1e-6)) << k << " " << i;
}

TEST(Finetune, GradientCheckpointingEqualsPlainBackprop) {
  auto data = story_windows(40);
  std::vector<const TrainExample*> mb = {&data[0], &data[1], &data[2]};
  Model m = bundled();
  LoraConfig cfg;
  cfg.dropout = 0.1;  // the recomputed layers must draw the same dropout masks
  LoraAdapters lora(m, cfg, 3);
  {
    c10::NoGradGuard no_grad;
    at::manual_seed(0);
    for (auto& p : lora.pairs()) p.b.copy_(at::randn_like(p.b) * 0.1);
  }
  std::vector<std::vector<at::Tensor>> grads;
  std::vector<double> losses;
  for (bool ckpt : {false, true}) {
    for (auto& p : lora.parameters()) p.mutable_grad() = at::Tensor();
    lora.set_training(true, 99);
    auto [loss, n] = lm_loss_sum(m, &lora, mb, ckpt);
    loss.backward();
    losses.push_back(loss.item<double>());
    std::vector<at::Tensor> g;
    for (auto& p : lora.parameters()) g.push_back(p.grad().clone());
    grads.push_back(g);
  }
  // Not bit-equal: the checkpointed forward runs without autograd, where lopper's CPU kernels take their
  // inference paths (in-place softmax, sliced matrix products), which round differently.
  EXPECT_NEAR(losses[0], losses[1], 1e-6 * std::abs(losses[0]));
  double worst = 0;
  for (size_t i = 0; i < grads[0].size(); ++i)
    worst = std::max(worst, (grads[1][i] - grads[0][i]).abs().max().item<double>() /
                                std::max(1e-12, grads[0][i].abs().max().item<double>()));
  std::printf("gradient checkpointing vs plain: max relative gradient difference %.2e\n", worst);
  EXPECT_LT(worst, 5e-5);
}

TEST(Finetune, PrunedHeterogeneousModelTrainsMergesAndReloads) {
  Model m = bundled();
  remove_attention(m, 1);
  remove_mlp(m, 3);
  auto data = story_windows(32);
  LoraAdapters lora(m, {}, 2);
  auto o = quick_options();
  auto r = run_finetune(m, lora, data, {}, o);
  EXPECT_TRUE(r.finished);
  auto ids = at::tensor(std::vector<int64_t>(data[0].ids.begin(), data[0].ids.end()), at::kLong).unsqueeze(0);
  c10::NoGradGuard no_grad;
  ForwardContext ctx;
  ctx.adapter = &lora;
  lora.set_training(false);
  auto with_adapter = m.forward(ids, ctx);
  lora.merge_into(m);
  auto merged = m.forward(ids);
  EXPECT_LT((merged - with_adapter).abs().max().item<double>(), 1e-4);
  auto dir = test::temp_dir("ft-hetero");
  save_model(m, dir / "out", {at::kFloat});
  auto back = Model::load(dir / "out", {"cpu", "f32"});
  EXPECT_FALSE(back.weights.layers[1].attn.has_value());
  EXPECT_FALSE(back.weights.layers[3].mlp.has_value());
  EXPECT_TRUE(at::equal(back.forward(ids), merged));
  remove_tree(dir);
}

}  // namespace
}  // namespace lopper
