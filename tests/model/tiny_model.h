// A tiny random Llama-family checkpoint written to a temp directory, for tests that must not depend
// on ../shared and that need to corrupt files.
#pragma once
#include <ATen/ATen.h>

#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "lopper/io/safetensors.h"
#include "lopper/model/config.h"
#include "lopper/model/weights.h"
#include "lopper/util/fs.h"

namespace lopper::test {

inline std::filesystem::path temp_dir(const std::string& tag) {
  std::random_device rd;
  auto d = std::filesystem::temp_directory_path() / fmt::format("lopper-test-{}-{:08x}", tag, rd());
  std::filesystem::create_directories(d);
  return d;
}

inline nlohmann::json tiny_config_json(const std::string& arch = "LlamaForCausalLM") {
  return nlohmann::json{{"architectures", {arch}}, {"vocab_size", 64}, {"hidden_size", 32},
                        {"num_hidden_layers", 3}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                        {"intermediate_size", 40}, {"rms_norm_eps", 1e-5}, {"rope_theta", 10000.0},
                        {"max_position_embeddings", 128}, {"tie_word_embeddings", false},
                        {"torch_dtype", "float32"}};
}

// Writes config.json and model.safetensors (random weights, norms near 1) for `cfg_json`.
inline void write_tiny_model(const std::filesystem::path& dir, const nlohmann::json& cfg_json, uint64_t seed = 0) {
  std::filesystem::create_directories(dir);
  auto cfg = ModelConfig::from_json(cfg_json, "tiny");
  at::manual_seed(seed);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for_each_tensor(cfg, [&](const TensorSpec& s) {
    bool norm = s.shape.size() == 1 && (s.name.find("norm") != std::string::npos);
    auto t = norm ? 1.0 + 0.1 * at::randn(s.shape) : 0.2 * at::randn(s.shape);
    tensors.emplace_back(s.name, t);
  });
  write_file_atomic(dir / "config.json", cfg_json.dump(2));
  write_safetensors(dir / "model.safetensors", tensors);
}

}  // namespace lopper::test
