#include "lopper/model/save.h"

#include <ATen/ATen.h>

#include "lopper/io/safetensors.h"
#include "lopper/util/error.h"
#include "lopper/util/fs.h"

namespace lopper {

namespace {

namespace fs = std::filesystem;

// Files of the source checkpoint that describe tokenization and generation, copied unchanged.
constexpr const char* kSideFiles[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "generation_config.json", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja",
    "LICENSE",
};

std::string config_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "float32";
  }
}

}  // namespace

std::optional<at::ScalarType> config_dtype(const std::string& s) {
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float16") return at::kHalf;
  if (s == "float32") return at::kFloat;
  return std::nullopt;
}

void save_model(const Model& model, const fs::path& out_dir, const SaveOptions& opts) {
  at::ScalarType dt = opts.dtype ? *opts.dtype : config_dtype(model.config.dtype).value_or(model.dtype);
  std::error_code ec;
  if (!model.source_dir.empty() && fs::exists(out_dir, ec) &&
      fs::equivalent(out_dir, model.source_dir, ec))
    fail("{}: refusing to overwrite the input checkpoint; choose another --out", out_dir.string());

  // Group tensors into shards in checkpoint order.
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  int64_t shard_bytes = 0, total_bytes = 0;
  for_each_tensor(model.config, [&](const TensorSpec& s) {
    const at::Tensor& t = tensor_slot(model.weights, s);
    if (!t.defined()) throw Error(fmt::format("save: tensor {} is missing", s.name));
    if (t.sizes().vec() != s.shape)
      throw Error(fmt::format("save: tensor {} has shape [{}], config implies [{}]", s.name,
                              fmt::join(t.sizes(), ", "), fmt::join(s.shape, ", ")));
    int64_t bytes = t.numel() * static_cast<int64_t>(c10::elementSize(dt));
    if (shard_bytes > 0 && shard_bytes + bytes > opts.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().emplace_back(s.name, t);
    shard_bytes += bytes;
    total_bytes += bytes;
  });

  nlohmann::json cfg = model.config.to_json();
  cfg["torch_dtype"] = config_dtype_name(dt);
  if (cfg.contains("dtype")) cfg["dtype"] = config_dtype_name(dt);

  write_dir_atomic(out_dir, [&](const fs::path& tmp) {
    write_file_atomic(tmp / "config.json", cfg.dump(2) + "\n");
    auto cast = [&](std::vector<std::pair<std::string, at::Tensor>> list) {
      for (auto& [n, t] : list) t = t.to(at::kCPU, dt);
      return list;
    };
    if (shards.size() == 1) {
      write_safetensors(tmp / "model.safetensors", cast(shards[0]));
    } else {
      nlohmann::json index;
      index["metadata"] = {{"total_size", total_bytes}};
      index["weight_map"] = nlohmann::json::object();
      for (size_t i = 0; i < shards.size(); ++i) {
        auto file = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, shards.size());
        write_safetensors(tmp / file, cast(shards[i]));
        for (const auto& [n, t] : shards[i]) index["weight_map"][n] = file;
      }
      write_file_atomic(tmp / "model.safetensors.index.json", index.dump(2) + "\n");
    }
    if (!model.source_dir.empty())
      for (const char* f : kSideFiles)
        if (fs::exists(model.source_dir / f, ec)) fs::copy_file(model.source_dir / f, tmp / f);
  });
}

}  // namespace lopper
