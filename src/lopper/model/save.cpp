#include "lopper/model/save.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <string_view>

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

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A shard name "model-00001-of-00003.safetensors" (any digit count, as other writers use).
bool is_shard_name(std::string_view name) {
  constexpr std::string_view kPrefix = "model-", kSuffix = ".safetensors", kOf = "-of-";
  if (name.size() <= kPrefix.size() + kSuffix.size() || !name.starts_with(kPrefix) || !name.ends_with(kSuffix))
    return false;
  auto middle = name.substr(kPrefix.size(), name.size() - kPrefix.size() - kSuffix.size());
  auto of = middle.find(kOf);
  return of != std::string_view::npos && all_digits(middle.substr(0, of)) &&
         all_digits(middle.substr(of + kOf.size()));
}

// The names save_model writes into a checkpoint folder: with --force these are replaced (or, when the
// new output lacks them, e.g. shards of an earlier larger save, removed); anything else is kept.
bool is_saved_file(const std::string& name) {
  if (name == "config.json" || name == "model.safetensors" || name == "model.safetensors.index.json" ||
      is_shard_name(name))
    return true;
  return std::any_of(std::begin(kSideFiles), std::end(kSideFiles), [&](const char* f) { return name == f; });
}

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
  check_output_dir(out_dir, opts.force);  // before the work below

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

  nlohmann::json cfg = opts.config_json ? *opts.config_json : model.config.to_json();
  cfg["torch_dtype"] = config_dtype_name(dt);
  if (cfg.contains("dtype")) cfg["dtype"] = config_dtype_name(dt);

  write_dir_atomic(out_dir, [&](const fs::path& tmp) {
    write_file_atomic(tmp / "config.json", cfg.dump(2) + "\n");
    for (const auto& [name, text] : opts.extra_files) write_file_atomic(tmp / name, text);
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
  }, DirWritePolicy{opts.force, [&](const std::string& name) {
        return is_saved_file(name) || std::any_of(opts.extra_files.begin(), opts.extra_files.end(),
                                                  [&](const auto& f) { return f.first == name; });
      }});
}

}  // namespace lopper
