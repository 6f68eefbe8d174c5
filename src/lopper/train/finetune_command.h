// `lopper finetune`: LoRA recovery training of a (pruned) checkpoint, then the merged model saved as a
// normal checkpoint, optionally the adapter in PEFT's layout, and a report.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "lopper/train/finetune.h"
#include "lopper/train/finetune_data.h"
#include "lopper/train/lora.h"

namespace lopper {

struct FinetuneRequest {
  std::filesystem::path model_dir, data, out;
  std::string device = "cpu", dtype = "auto";  // compute dtype; LoRA weights are fp32 masters
  FinetuneDataOptions data_options;
  int64_t val_size = 2000;
  LoraConfig lora;
  FinetuneOptions train;
  std::filesystem::path save_adapter;  // PEFT adapter folder; empty: not written
  std::filesystem::path state_dir;     // resumable state; empty: <out>.finetune-state
  bool force = false;                  // replace an existing --out / --save-adapter
};

// Default resumable-state folder for an output folder: a sibling "<out>.finetune-state".
std::filesystem::path default_state_dir(const std::filesystem::path& out);

// Checks outputs, reads the data, loads the model, trains, merges and saves. Stopped early
// (train.stop_after), nothing is saved but the resumable state. Returns the report; prints a summary.
nlohmann::json run_finetune_command(const FinetuneRequest& req);

}  // namespace lopper
