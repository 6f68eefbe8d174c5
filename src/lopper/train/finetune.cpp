// The LoRA training loop: batches from a seeded per-epoch shuffle, micro-batches accumulated into one
// update, evaluation, logging and resumable state.
#include "lopper/train/finetune.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "lopper/train/adamw.h"
#include "lopper/train/finetune_state.h"
#include "lopper/train/grad_checkpoint.h"
#include "lopper/train/seed_mix.h"
#include "lopper/util/error.h"

namespace lopper {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t label_tokens(const TrainExample& ex) {  // labels scored: positions 1..n-1
  return std::count_if(ex.labels.begin() + 1, ex.labels.end(), [](int64_t l) { return l != kIgnoreLabel; });
}

std::string eta(double s) {
  const auto t = static_cast<int64_t>(s);
  return t >= 3600 ? fmt::format("{}h{:02}m", t / 3600, t % 3600 / 60) : fmt::format("{}m{:02}s", t / 60, t % 60);
}

nlohmann::json fingerprint(const LoraAdapters& lora, const FinetuneOptions& o, size_t n_train, size_t n_val) {
  std::vector<std::string> targets;
  for (auto r : lora.config().targets) targets.push_back(lora_module_name(r));
  return {{"epochs", o.epochs}, {"batch", o.batch}, {"micro_batch", o.micro_batch}, {"lr", o.lr},
          {"warmup_steps", o.warmup_steps}, {"weight_decay", o.weight_decay}, {"max_grad_norm", o.max_grad_norm},
          {"seed", o.seed}, {"rank", lora.config().rank}, {"alpha", lora.config().alpha},
          {"dropout", lora.config().dropout}, {"targets", targets}, {"train_examples", n_train},
          {"val_examples", n_val}};
}

}  // namespace

std::pair<at::Tensor, int64_t> lm_loss_sum(const Model& model, LoraAdapters* lora,
                                           const std::vector<const TrainExample*>& examples, bool grad_checkpointing) {
  const auto B = static_cast<int64_t>(examples.size());
  size_t L = 0;
  for (const auto* ex : examples) L = std::max(L, ex->ids.size());
  // Right padding: with causal attention no real token sees the padding, and padded labels are ignored.
  auto ids = at::zeros({B, static_cast<int64_t>(L)}, at::kLong);                       // [B, L]
  auto labels = at::full({B, static_cast<int64_t>(L)}, kIgnoreLabel, at::kLong);      // [B, L]
  int64_t n_labels = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto& ex = *examples[static_cast<size_t>(b)];
    const auto n = static_cast<int64_t>(ex.ids.size());
    ids[b].narrow(0, 0, n).copy_(at::tensor(ex.ids, at::kLong));
    labels[b].narrow(0, 0, n).copy_(at::tensor(ex.labels, at::kLong));
    n_labels += label_tokens(ex);
  }
  ForwardContext ctx;
  ctx.adapter = lora;
  at::Tensor h = model.embed(ids);  // [B, L, C]
  for (int i = 0; i < model.config.num_layers(); ++i)
    h = grad_checkpointing && lora ? checkpointed_layer(model, i, h, ctx, lora->layer_parameters(i))
                                   : model.run_layer(i, h, ctx);
  at::Tensor logits = model.lm_head(model.final_norm(h.narrow(1, 0, h.size(1) - 1)));  // [B, L-1, V]
  auto target = labels.narrow(1, 1, L - 1).to(logits.device()).reshape({-1});       // [B*(L-1)]
  at::Tensor loss = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}).to(at::kFloat), target, {},
                                           at::Reduction::Sum, kIgnoreLabel);
  return {loss, n_labels};
}

double mean_loss(const Model& model, LoraAdapters* lora, const std::vector<TrainExample>& examples,
                 int64_t micro_batch) {
  c10::NoGradGuard no_grad;
  if (lora) lora->set_training(false);
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < examples.size(); i += static_cast<size_t>(micro_batch)) {
    std::vector<const TrainExample*> mb;
    for (size_t j = i; j < std::min(examples.size(), i + static_cast<size_t>(micro_batch)); ++j)
      mb.push_back(&examples[j]);
    auto [loss, tokens] = lm_loss_sum(model, lora, mb, false);
    sum += loss.item<double>();
    n += tokens;
  }
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

nlohmann::json FinetuneResult::to_json() const {
  nlohmann::json val = nlohmann::json::array();
  for (const auto& [step, loss] : val_loss) val.push_back({{"step", step}, {"loss", loss}});
  return {{"steps", steps}, {"total_steps", total_steps}, {"finished", finished}, {"train_loss", train_loss},
          {"lr", lr}, {"val_loss", val}, {"train_tokens", train_tokens}, {"train_seconds", train_seconds},
          {"wall_seconds", wall_seconds},
          {"tokens_per_second", train_seconds > 0 ? static_cast<double>(train_tokens) / train_seconds : 0.0}};
}

void check_finetune_options(const FinetuneOptions& o) {
  check(o.epochs >= 1, "--epochs must be at least 1, got {}", o.epochs);
  check(o.batch >= 1 && o.micro_batch >= 1, "--batch and --micro-batch must be at least 1");
  check(o.batch % o.micro_batch == 0, "--batch {} is not a multiple of --micro-batch {}", o.batch, o.micro_batch);
  check(o.lr > 0, "--lr must be positive, got {}", o.lr);
  check(o.warmup_steps >= 0 && o.eval_steps >= 0 && o.save_steps >= 0 && o.logging_steps >= 0,
        "step counts (--warmup-steps, --eval-steps, --save-steps, --logging-steps) must be >= 0");
}

FinetuneResult run_finetune(const Model& model, LoraAdapters& lora, const std::vector<TrainExample>& train,
                            const std::vector<TrainExample>& val, const FinetuneOptions& o) {
  check(!train.empty(), "no training examples");
  check_finetune_options(o);
  check(!o.resume || !o.state_dir.empty(), "--resume needs a state folder");
  const auto t_start = Clock::now();
  const auto N = static_cast<int64_t>(train.size());
  const int64_t steps_per_epoch = (N + o.batch - 1) / o.batch;
  FinetuneResult r;
  r.total_steps = steps_per_epoch * o.epochs;
  auto params = lora.parameters();
  AdamW opt(params, {0.9, 0.999, 1e-8, o.weight_decay});
  const auto fp = fingerprint(lora, o, train.size(), val.size());
  int64_t step = 0;
  double prior_train_s = 0, prior_wall_s = 0;
  if (o.resume) {
    auto [s, log] = load_finetune_state(o.state_dir, lora, opt, fp);
    step = s;
    r.train_loss = log.at("train_loss").get<std::vector<double>>();
    r.lr = log.at("lr").get<std::vector<double>>();
    for (const auto& v : log.at("val_loss")) r.val_loss.emplace_back(v.at("step"), v.at("loss"));
    r.train_tokens = log.at("train_tokens");
    prior_train_s = log.at("train_seconds");
    prior_wall_s = log.at("wall_seconds");
    if (o.verbose) std::fprintf(stderr, "finetune: resumed at step %lld of %lld from %s\n", (long long)step,
                                (long long)r.total_steps, o.state_dir.string().c_str());
  }
  auto evaluate = [&](int64_t at_step) {
    if (val.empty() || (!r.val_loss.empty() && r.val_loss.back().first == at_step)) return;
    const double v = mean_loss(model, &lora, val, o.micro_batch);
    r.val_loss.emplace_back(at_step, v);
    if (o.verbose) std::fprintf(stderr, "finetune: step %lld val loss %.4f (ppl %.2f)\n", (long long)at_step, v, std::exp(v));
  };
  double train_s = 0;  // this run's training time (evaluation excluded)
  auto save_state = [&] {
    r.steps = step;
    r.train_seconds = prior_train_s + train_s;
    r.wall_seconds = prior_wall_s + seconds_since(t_start);
    save_finetune_state(o.state_dir, lora, opt, step, fp, r.to_json());
  };
  if (step == 0) evaluate(0);
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;
  const auto t_train = Clock::now();
  const int64_t start_step = step;
  while (step < r.total_steps) {
    const auto t_step = Clock::now();
    const int64_t epoch = step / steps_per_epoch, j = step % steps_per_epoch;
    if (epoch != perm_epoch) {  // a fresh seeded order per epoch, rebuilt the same way on resume
      perm = seeded_permutation(N, seed_mix(o.seed, static_cast<uint64_t>(epoch)));
      perm_epoch = epoch;
    }
    std::vector<const TrainExample*> batch;
    for (int64_t k = j * o.batch; k < std::min(N, (j + 1) * o.batch); ++k)
      batch.push_back(&train[static_cast<size_t>(perm[static_cast<size_t>(k)])]);
    int64_t batch_labels = 0;
    for (const auto* ex : batch) batch_labels += label_tokens(*ex);
    for (auto& p : params) p.mutable_grad() = at::Tensor();
    double loss_sum = 0;
    for (size_t m = 0; m < batch.size(); m += static_cast<size_t>(o.micro_batch)) {
      std::vector<const TrainExample*> mb(batch.begin() + static_cast<std::ptrdiff_t>(m),
                                          batch.begin() + static_cast<std::ptrdiff_t>(std::min(batch.size(), m + o.micro_batch)));
      lora.set_training(true, seed_mix(seed_mix(o.seed, static_cast<uint64_t>(step) + 1), m));
      auto [loss, tokens] = lm_loss_sum(model, &lora, mb, o.grad_checkpointing);
      if (batch_labels > 0 && tokens > 0) (loss / static_cast<double>(batch_labels)).backward();
      loss_sum += loss.item<double>();
      for (const auto* ex : mb) r.train_tokens += static_cast<int64_t>(ex->ids.size());
    }
    clip_grad_norm(params, o.max_grad_norm);
    const double lr = linear_warmup_decay(o.lr, step, o.warmup_steps, r.total_steps);
    opt.step(lr);
    ++step;
    r.train_loss.push_back(batch_labels > 0 ? loss_sum / static_cast<double>(batch_labels) : 0.0);
    r.lr.push_back(lr);
    train_s += seconds_since(t_step);
    if (o.verbose && o.logging_steps > 0 && (step % o.logging_steps == 0 || step == r.total_steps)) {
      const double tps = static_cast<double>(r.train_tokens) / (prior_train_s + train_s);
      const double per_step = seconds_since(t_train) / static_cast<double>(step - start_step);
      std::fprintf(stderr, "finetune: step %lld/%lld epoch %.2f loss %.4f lr %.2e | %.0f tok/s | ETA %s\n",
                   (long long)step, (long long)r.total_steps, static_cast<double>(step) / steps_per_epoch,
                   r.train_loss.back(), lr, tps, eta(per_step * static_cast<double>(r.total_steps - step)).c_str());
    }
    if (o.eval_steps > 0 && step % o.eval_steps == 0) evaluate(step);
    if (!o.state_dir.empty() && o.save_steps > 0 && step % o.save_steps == 0 && step < r.total_steps) {
      save_state();
    }
    if (o.stop_after > 0 && step >= o.stop_after && step < r.total_steps) break;
  }
  r.steps = step;
  r.finished = step >= r.total_steps;
  if (r.finished) {
    evaluate(step);
  } else if (!o.state_dir.empty()) {
    save_state();
  }
  r.train_seconds = prior_train_s + train_s;
  r.wall_seconds = prior_wall_s + seconds_since(t_start);
  return r;
}

}  // namespace lopper
