// LoRA fine-tuning loop (Shortened LLaMA's recovery recipe, alpaca-lora's Trainer settings): AdamW,
// linear warm-up and decay, gradient accumulation over micro-batches, gradient-norm clipping,
// validation loss every eval_steps, resumable state. The loss of a step is the mean over every label
// token of the whole batch, so splitting a batch into micro-batches does not change the update.
#pragma once
#include <cstdint>
#include <filesystem>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"
#include "lopper/train/finetune_data.h"
#include "lopper/train/lora.h"

namespace lopper {

struct FinetuneOptions {
  int64_t epochs = 2;
  int64_t batch = 64;        // examples per optimizer step
  int64_t micro_batch = 4;   // examples per forward/backward pass
  double lr = 1e-4;
  int64_t warmup_steps = 100;
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // 0: no clipping
  int64_t eval_steps = 200;    // validation loss every this many steps (and before and after training)
  int64_t logging_steps = 10;
  int64_t save_steps = 200;    // resumable state every this many steps (when state_dir is set)
  uint64_t seed = 42;
  bool grad_checkpointing = false;
  std::filesystem::path state_dir;  // where resumable state lives; empty: none
  bool resume = false;              // continue from state_dir
  int64_t stop_after = 0;           // stop after this many steps in total, state saved (0: run to the end)
  bool verbose = true;              // progress lines on stderr
};

struct FinetuneResult {
  int64_t steps = 0, total_steps = 0;
  bool finished = false;          // false: stopped early (stop_after); resumable
  std::vector<double> train_loss;  // per step, from step 1
  std::vector<double> lr;          // per step
  std::vector<std::pair<int64_t, double>> val_loss;  // (step, loss)
  int64_t train_tokens = 0;        // tokens through forward/backward (padding excluded)
  double train_seconds = 0;        // forward/backward/update time, evaluation excluded
  double wall_seconds = 0;
  nlohmann::json to_json() const;
};

// InputError naming the option for impossible settings (checked before any work).
void check_finetune_options(const FinetuneOptions& opts);

// Trains `lora` (plugged into `model`'s forward) on `train`; `val` may be empty.
FinetuneResult run_finetune(const Model& model, LoraAdapters& lora, const std::vector<TrainExample>& train,
                            const std::vector<TrainExample>& val, const FinetuneOptions& opts);

// Summed cross-entropy over the label tokens of `examples` (next-token: label t+1 scored at t) and
// the number of those tokens; with `lora` as the adapter when given. Differentiable when the adapter's
// parameters require grad and grad mode is on.
std::pair<at::Tensor, int64_t> lm_loss_sum(const Model& model, LoraAdapters* lora,
                                           const std::vector<const TrainExample*>& examples, bool grad_checkpointing);

// Mean validation loss over `examples`, micro_batch at a time, dropout off, no gradients.
double mean_loss(const Model& model, LoraAdapters* lora, const std::vector<TrainExample>& examples,
                 int64_t micro_batch);

}  // namespace lopper
