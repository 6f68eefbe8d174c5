#include "lopper/train/finetune_command.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>

#include "lopper/model/save.h"
#include "lopper/tokenizer/tokenizer.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

double ppl(double loss) { return std::exp(loss); }

}  // namespace

std::filesystem::path default_state_dir(const std::filesystem::path& out) {
  auto p = out;
  if (p.has_filename() == false) p = p.parent_path();
  return p.string() + ".finetune-state";
}

nlohmann::json run_finetune_command(const FinetuneRequest& req) {
  check(!req.out.empty(), "finetune: give --out DIR for the merged model");
  std::error_code ec;
  check(std::filesystem::exists(req.data, ec), "--data {}: no such file", req.data.string());
  check_finetune_options(req.train);
  check(req.lora.rank >= 1, "--lora-rank must be at least 1, got {}", req.lora.rank);
  const bool stops_early = req.train.stop_after > 0;
  if (!stops_early) check_output_dir(req.out, req.force);
  if (!req.save_adapter.empty() && !stops_early) check_output_dir(req.save_adapter, req.force);
  FinetuneOptions train = req.train;
  train.state_dir = req.state_dir.empty() ? default_state_dir(req.out) : req.state_dir;
  if (!train.resume && std::filesystem::exists(train.state_dir / "state.json", ec))
    fail("{} holds the state of an unfinished run: continue it with --resume, or delete the folder",
         train.state_dir.string());

  auto tok = Tokenizer::from_dir(req.model_dir);
  auto examples = load_finetune_data(req.data, tok, req.data_options);
  auto [train_set, val_set] = split_validation(std::move(examples), req.val_size, train.seed);
  auto model = Model::load(req.model_dir, {req.device, req.dtype});
  prepare_for_training(model);
  LoraAdapters lora(model, req.lora, train.seed);
  const int64_t base_params = count_params(model.config).total;
  std::fprintf(stderr, "finetune: %zu train / %zu val examples, LoRA r=%lld alpha=%g on %zu projections: %lld trainable "
               "parameters (%.3f%% of %lld)\n", train_set.size(), val_set.size(), (long long)req.lora.rank,
               req.lora.alpha, lora.pairs().size(), (long long)lora.num_params(),
               100.0 * static_cast<double>(lora.num_params()) / static_cast<double>(base_params), (long long)base_params);

  FinetuneResult result = run_finetune(model, lora, train_set, val_set, train);
  nlohmann::json report = {{"model", req.model_dir.string()}, {"data", req.data.string()},
                           {"train_examples", train_set.size()}, {"val_examples", val_set.size()},
                           {"device", req.device}, {"dtype", dtype_name(model.dtype)},
                           {"lora", lora.peft_config(req.model_dir.string())},
                           {"trainable_params", lora.num_params()}, {"base_params", base_params},
                           {"training", result.to_json()}};
  if (!result.finished) {
    std::printf("finetune: stopped at step %lld of %lld; state saved in %s (continue with --resume)\n",
                (long long)result.steps, (long long)result.total_steps, train.state_dir.string().c_str());
    report["state_dir"] = train.state_dir.string();
    return report;
  }
  if (!req.save_adapter.empty()) {
    write_dir_atomic(req.save_adapter, [&](const std::filesystem::path& tmp) {
      lora.save_peft(tmp, std::filesystem::absolute(req.model_dir).string());
    }, {req.force, {}});
    report["adapter"] = req.save_adapter.string();
  }
  lora.merge_into(model);
  SaveOptions save;
  save.force = req.force;
  save.extra_files.emplace_back("lopper_finetune.json", report.dump(2) + "\n");
  save_model(model, req.out, save);
  report["out"] = req.out.string();
  remove_tree(train.state_dir);  // finished: the resumable state has served its purpose

  const auto& tl = result.train_loss;
  std::printf("finetune: %lld steps, train loss %.4f -> %.4f (first / last step)\n", (long long)result.steps,
              tl.empty() ? 0.0 : tl.front(), tl.empty() ? 0.0 : tl.back());
  if (result.val_loss.size() >= 2)
    std::printf("finetune: val loss %.4f -> %.4f (ppl %.2f -> %.2f)\n", result.val_loss.front().second,
                result.val_loss.back().second, ppl(result.val_loss.front().second), ppl(result.val_loss.back().second));
  std::printf("finetune: %lld tokens in %.1f s training (%.0f tokens/s), %.1f s wall; merged model in %s\n",
              (long long)result.train_tokens, result.train_seconds,
              result.train_seconds > 0 ? static_cast<double>(result.train_tokens) / result.train_seconds : 0.0,
              result.wall_seconds, req.out.string().c_str());
  return report;
}

}  // namespace lopper
