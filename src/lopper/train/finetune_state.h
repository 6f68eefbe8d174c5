// Resumable fine-tuning state: the adapters, AdamW's moments and step, the log so far, and a
// fingerprint of everything that decides the run (options, data sizes), so that resuming with other
// settings is refused instead of silently producing a different run. Layout of the state folder:
//   state.json          {"step", "fingerprint", "log"}
//   state.safetensors   lora.<PEFT name>, adam.exp_avg.<i>, adam.exp_avg_sq.<i>
#pragma once
#include <filesystem>

#include <nlohmann/json.hpp>

#include "lopper/train/adamw.h"
#include "lopper/train/lora.h"

namespace lopper {

// Written atomically (a temporary folder renamed over the old state).
void save_finetune_state(const std::filesystem::path& dir, const LoraAdapters& lora, AdamW& opt, int64_t step,
                         const nlohmann::json& fingerprint, const nlohmann::json& log);

// Restores adapters and optimizer; returns {step, log}. InputError naming the folder when it is
// missing or corrupt, or when its fingerprint differs from `fingerprint` (the differing key is named).
std::pair<int64_t, nlohmann::json> load_finetune_state(const std::filesystem::path& dir, LoraAdapters& lora,
                                                       AdamW& opt, const nlohmann::json& fingerprint);

}  // namespace lopper
