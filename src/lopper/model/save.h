// Saving a (possibly pruned) model as a Hugging Face checkpoint directory: config.json,
// model.safetensors (or shards + index above the shard size), generation_config.json and the
// tokenizer files of the source checkpoint. The directory is built under a temporary name and
// renamed into place when complete.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lopper/model/model.h"

namespace lopper {

struct SaveOptions {
  // Dtype of the saved tensors; default: the source checkpoint's dtype (config.json torch_dtype),
  // so a bf16 checkpoint stays bf16 even if it was pruned in fp32.
  std::optional<at::ScalarType> dtype;
  int64_t max_shard_bytes = int64_t{5} << 30;
  // Write into an existing non-empty out_dir: the files save_model writes (and stale shards) are
  // replaced, any other file is kept. Without it such a folder is refused.
  bool force = false;
  // Written instead of model.config.to_json() (exports to other config formats); torch_dtype / dtype
  // are still set to the saved dtype.
  std::optional<nlohmann::json> config_json;
  // Further files written beside config.json: {name, contents} (e.g. the config class an export's
  // auto_map names).
  std::vector<std::pair<std::string, std::string>> extra_files;
};

void save_model(const Model& model, const std::filesystem::path& out_dir, const SaveOptions& opts = {});

// Maps a config.json dtype string ("bfloat16", "float32", "float16") to a scalar type.
std::optional<at::ScalarType> config_dtype(const std::string& s);

}  // namespace lopper
