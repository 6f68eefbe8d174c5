#include "cli/commands.h"
#include "cli/model_arg.h"
#include "lopper/train/finetune_command.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper::cli {

void register_finetune(CLI::App& app) {
  struct Opts {
    FinetuneRequest req;
    std::string model, data, out, targets = "q,k,v,o,gate,up,down", save_adapter, state_dir, json;
    bool download = false;
  };
  auto o = std::make_shared<Opts>();
  auto& r = o->req;
  auto* sub = app.add_subcommand("finetune",
                                 "LoRA fine-tuning (recovery after pruning): trains adapters, saves the merged model");
  sub->add_option("--model", o->model, "Model directory or hub id org/name[@rev] (dense or pruned)")->required();
  add_download_flag(sub, &o->download);
  sub->add_option("--data", o->data, "Training data: Alpaca JSON / JSON Lines (instruction, input, output) or plain text")
      ->required();
  sub->add_option("--out", o->out, "Output directory for the merged model")->required();
  sub->add_flag("--force", r.force, "Replace an existing --out / --save-adapter folder");
  sub->add_option("--data-format", r.data_options.format, "auto | alpaca | text")->default_val("auto");
  sub->add_option("--cutoff-len", r.data_options.cutoff_len, "Tokens per example (longer ones are cut)")->default_val(256);
  sub->add_flag("--train-on-inputs", r.data_options.train_on_inputs, "Alpaca: also train on the prompt tokens");
  sub->add_option("--val-size", r.val_size, "Examples held out for the validation loss")->default_val(2000);
  sub->add_option("--lora-rank,-r", r.lora.rank, "LoRA rank")->default_val(8);
  sub->add_option("--lora-alpha", r.lora.alpha, "LoRA alpha (scaling alpha / rank)")->default_val(16);
  sub->add_option("--lora-dropout", r.lora.dropout, "Dropout on the LoRA input")->default_val(0.05);
  sub->add_option("--lora-targets", o->targets, "Projections: q,k,v,o,gate,up,down (or PEFT names, or all)")
      ->default_val("q,k,v,o,gate,up,down");
  sub->add_option("--epochs", r.train.epochs, "Passes over the training data")->default_val(2);
  sub->add_option("--batch", r.train.batch, "Examples per optimizer step")->default_val(64);
  sub->add_option("--micro-batch", r.train.micro_batch, "Examples per forward/backward pass (gradient accumulation)")
      ->default_val(4);
  sub->add_option("--lr", r.train.lr, "Peak learning rate (AdamW)")->default_val(1e-4);
  sub->add_option("--warmup-steps", r.train.warmup_steps, "Linear warm-up steps, then linear decay")->default_val(100);
  sub->add_option("--weight-decay", r.train.weight_decay, "AdamW decoupled weight decay")->default_val(0.0);
  sub->add_option("--max-grad-norm", r.train.max_grad_norm, "Clip the gradient norm (0: off)")->default_val(1.0);
  sub->add_option("--eval-steps", r.train.eval_steps, "Validation loss every N steps (0: only before and after)")
      ->default_val(200);
  sub->add_option("--save-steps", r.train.save_steps, "Save resumable state every N steps (0: never)")->default_val(200);
  sub->add_option("--logging-steps", r.train.logging_steps, "Progress line every N steps")->default_val(10);
  sub->add_option("--seed", r.train.seed, "Seed (LoRA init, data order, dropout, validation split)")->default_val(42);
  sub->add_flag("--gradient-checkpointing", r.train.grad_checkpointing, "Recompute layers in the backward pass");
  sub->add_flag("--resume", r.train.resume, "Continue an interrupted run from its saved state");
  sub->add_option("--state-dir", o->state_dir, "Resumable state folder (default: <out>.finetune-state)");
  sub->add_option("--stop-after", r.train.stop_after, "Stop after N steps in total, saving resumable state");
  sub->add_option("--save-adapter", o->save_adapter, "Also write the adapter in PEFT's layout to this folder");
  sub->add_option("--device", r.device, "cpu | cuda | cuda:N")->default_val("cpu");
  sub->add_option("--dtype", r.dtype, "Compute dtype: auto (f32 on CPU, bf16 on CUDA) | f32 | bf16")->default_val("auto");
  sub->add_option("--json", o->json, "Write the report (with the training log) as JSON to this file");
  sub->callback([o] {
    o->model = resolve_model_arg(o->model, o->download);
    auto& r = o->req;
    r.model_dir = o->model;
    r.data = o->data;
    r.out = o->out;
    r.save_adapter = o->save_adapter;
    r.state_dir = o->state_dir;
    r.lora.targets = parse_lora_targets(o->targets);
    if (!o->json.empty()) check_output_path(o->json, true, "--json");
    auto report = run_finetune_command(r);
    if (!o->json.empty()) write_file_atomic(o->json, report.dump(2) + "\n");
  });
}

}  // namespace lopper::cli
