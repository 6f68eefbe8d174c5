// Saving a (possibly pruned) model as a Hugging Face checkpoint directory: config.json,
// model.safetensors (or shards + index above the shard size), generation_config.json and the
// tokenizer files of the source checkpoint. The directory is built under a temporary name and
// renamed into place when complete.
#pragma once
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <optional>

#include "lopper/model/model.h"

namespace lopper {

struct SaveOptions {
  // Dtype of the saved tensors; default: the source checkpoint's dtype (config.json torch_dtype),
  // so a bf16 checkpoint stays bf16 even if it was pruned in fp32.
  std::optional<at::ScalarType> dtype;
  int64_t max_shard_bytes = int64_t{5} << 30;
};

void save_model(const Model& model, const std::filesystem::path& out_dir, const SaveOptions& opts = {});

// Maps a config.json dtype string ("bfloat16", "float32", "float16") to a scalar type.
std::optional<at::ScalarType> config_dtype(const std::string& s);

}  // namespace lopper
